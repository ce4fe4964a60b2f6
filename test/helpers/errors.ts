/** Error helpers the log/ tests share. */
import { LogError } from '../../log/errors.js';

/** codeOf runs fn and returns the code of the LogError it throws, or says what else happened. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof LogError ? e.code : `not a LogError: ${String(e)}`;
  }
  return 'no error';
}
