/** A refusal of what the user typed, naming the flag (or setting) at fault; main.ts prints it and exits 1. */
export class FlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
    this.name = 'FlagError';
  }
}
