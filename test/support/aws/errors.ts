/** An error an AWS JSON 1.1 service answers: `{"__type": type, "message": message}` with `status`. Test support only. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
