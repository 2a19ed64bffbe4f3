import { describe, expect, it } from "vitest";
import { lineOfStep, parseInstructions } from "./dockerfile.js";

describe("Dockerfile instructions", () => {
  const text = `ARG BASE=busybox
# build stage
FROM \${BASE} AS build

RUN echo one && \\
    echo two
COPY . /src
FROM busybox
# a comment
RUN exit 3
CMD ["true"]
`;
  it("numbers instructions by their first line, joining continuations", () => {
    expect(parseInstructions(text).map((i) => [i.line, i.keyword])).toEqual([
      [1, "ARG"],
      [3, "FROM"],
      [5, "RUN"],
      [7, "COPY"],
      [8, "FROM"],
      [10, "RUN"],
      [11, "CMD"],
    ]);
  });
  it("maps podman's per-stage step numbers to lines", () => {
    const ins = parseInstructions(text);
    expect(lineOfStep(ins, 0, 2)).toMatchObject({ line: 5, keyword: "RUN" });
    expect(lineOfStep(ins, 1, 2)).toMatchObject({ line: 10, keyword: "RUN" });
    expect(lineOfStep(ins, 2, 1)).toBeUndefined();
  });
});
