/**
 * Wall clock in ms with sub-ms resolution. Servers stamp events with it (`t`) and the load
 * generator reads it on receipt; both derive from the system clock, so they compare across
 * processes on one machine.
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
