import type { TaskDefinition } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { PermanentDeployError } from "./target.js";
import { mergeEnvironment, nextTaskDefinition } from "./task-definition.js";

const described: TaskDefinition = {
  taskDefinitionArn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:4",
  family: "api",
  revision: 4,
  status: "ACTIVE",
  registeredAt: new Date(),
  compatibilities: ["EC2"],
  requiresAttributes: [{ name: "ecs.capability.execution-role-awslogs" }],
  networkMode: "bridge",
  memory: "256",
  containerDefinitions: [
    { name: "api", image: "old/api:1", environment: [{ name: "A", value: "1" }] },
    { name: "worker", image: "old/worker:1" },
  ],
};

describe("nextTaskDefinition", () => {
  it("replaces only mapped containers' images and environment and drops read-only fields", () => {
    const next = nextTaskDefinition(described, [{ service: "web", tag: "reg/api:web.2" }], { A: "2", B: "x" }, { web: "api" });
    expect(next).toEqual({
      family: "api",
      networkMode: "bridge",
      memory: "256",
      containerDefinitions: [
        {
          name: "api",
          image: "reg/api:web.2",
          environment: [
            { name: "A", value: "2" },
            { name: "B", value: "x" },
          ],
        },
        { name: "worker", image: "old/worker:1" },
      ],
    });
    // The input is left as it was.
    expect(described.containerDefinitions?.[0]?.image).toBe("old/api:1");
  });

  it("says which container names exist when a service has no container", () => {
    expect(() => nextTaskDefinition(described, [{ service: "web", tag: "t" }], {})).toThrow(PermanentDeployError);
    expect(() => nextTaskDefinition(described, [{ service: "web", tag: "t" }], {})).toThrow(
      'ECS task definition api has no container named "web" for service "web" (it has: api, worker); map it with target.containers.web',
    );
  });

  it("merges environment: replaced in place, new names appended sorted", () => {
    expect(
      mergeEnvironment(
        [
          { name: "Z", value: "0" },
          { name: "K", value: "1" },
        ],
        { K: "2", B: "b", A: "a" },
      ),
    ).toEqual([
      { name: "Z", value: "0" },
      { name: "K", value: "2" },
      { name: "A", value: "a" },
      { name: "B", value: "b" },
    ]);
  });
});
