// One parser for every place an SSH URL comes in (create, link, ls-remote) and the builder's clone.
export { parseSshUrl, sshUrlOf } from "@hoist/shared";
