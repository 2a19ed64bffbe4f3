export class ComposeError extends Error {
  override name = "ComposeError";
}
