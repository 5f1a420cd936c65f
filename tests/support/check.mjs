// Named checks for the Node test scripts (tests/browser, tests/contract): each check logs
// `ok` or `FAIL` under the script's tag and is counted; the counts decide the exit code.

/**
 * `checks(tag)` gives `{ check, log, counts }`. `check(name, fn)` runs `fn` and counts it;
 * with `stopOnFailure` (the default, for scripts whose later steps build on earlier
 * ones) a failure is rethrown after it is logged, otherwise the script goes on.
 */
export function checks(tag, { stopOnFailure = true } = {}) {
  const counts = { passed: 0, failed: 0 };
  const log = (...a) => console.log(`[${tag}]`, ...a);
  async function check(name, fn) {
    try {
      await fn();
      counts.passed++;
      log(`ok   ${name}`);
    } catch (e) {
      counts.failed++;
      log(`FAIL ${name}: ${stopOnFailure ? e.message.split("\n")[0] : e.message}`);
      if (stopOnFailure) throw e;
    }
  }
  return { check, log, counts };
}
