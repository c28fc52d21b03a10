// Retry delays for reconnection: 1, 2, 4, 8, 8 … s, each spread by ±jitter so that a room full
// of pages does not hammer a restarted server in lockstep, and a limit after which the caller
// gives up and asks the person instead.

export class Backoff {
  constructor({ delaysS = [1, 2, 4, 8], maxAttempts = Infinity, jitter = 0.2, random = Math.random } = {}) {
    if (!delaysS.length || delaysS.some((d) => !(d >= 0))) throw new RangeError("delays must be >= 0 seconds");
    Object.assign(this, { delaysS, maxAttempts, jitter, random });
    this.attempt = 0;
  }

  /** The delay before the next attempt in milliseconds, or null when the attempts are used up. */
  next() {
    if (this.attempt >= this.maxAttempts) return null;
    const base = this.delaysS[Math.min(this.attempt, this.delaysS.length - 1)];
    this.attempt += 1;
    return Math.round(1000 * base * (1 + this.jitter * (2 * this.random() - 1)));
  }

  reset() {
    this.attempt = 0;
  }
}
