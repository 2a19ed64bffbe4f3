import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { makeOut, neutralise } from "./output.js";

const collect = (s: PassThrough) => {
  const chunks: string[] = [];
  s.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  return () => chunks.join("");
};

describe("terminal output", () => {
  it("shows control characters from the server as visible escapes, keeping newlines and tabs", () => {
    expect(neutralise("ok\tcol\nnext")).toBe("ok\tcol\nnext");
    expect(neutralise("\u001b]0;pwned\u0007red \u001b[31mX\u001b[0m\rover\u0008\u007f\u009b2J")).toBe(
      "\\x1b]0;pwned\\x07red \\x1b[31mX\\x1b[0m\\x0dover\\x08\\x7f\\x9b2J",
    );
    expect(neutralise("é ✓ 中")).toBe("é ✓ 中");
  });

  it("neutralises everything print, err and data write; --json stays valid JSON with the same value", () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const outText = collect(stdout);
    const errText = collect(stderr);
    const evil = "step\u001b[2J\u001b]52;c;ZXZpbA==\u0007 \u009b1m";
    const human = makeOut(false, stdout, stderr);
    human.print(evil);
    human.err(evil);
    human.data({ line: evil }, () => `line ${evil}`);
    const json = makeOut(true, stdout, stderr);
    json.data({ line: evil }, () => "");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters.
    const control = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
    expect(outText()).not.toMatch(control);
    expect(errText()).not.toMatch(control);
    expect(errText()).toBe("step\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07 \\x9b1m\n");
    const jsonText = outText().slice(outText().indexOf("{"));
    expect(JSON.parse(jsonText)).toEqual({ line: evil });
  });
});
