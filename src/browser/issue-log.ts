/**
 * The page's own issues, shown on `status$` after the worker's: the latest
 * ten errors the page client met, stamped with its clock.
 *
 * @module
 */
import { errorParts } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { RuntimeIssue } from '../worker/contract.js';

const KEEP = 10;

/** The latest errors, newest last. */
export class IssueLog {
  private readonly issues: RuntimeIssue[] = [];

  constructor(private readonly clock: Clock) {}

  /** Records `err` (any thrown value); the oldest is forgotten past ten. */
  readonly report = (err: unknown): void => {
    this.issues.push({ ...errorParts(err), at: this.clock.now() });
    if (this.issues.length > KEEP) this.issues.shift();
  };

  /** The recorded issues, oldest first (a copy). */
  latest(): RuntimeIssue[] {
    return [...this.issues];
  }
}
