/** Resolves once `promise` settles or `ms` have passed, whichever comes first; never rejects. */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))));
  await Promise.race([promise.catch(() => undefined), timeout]);
  clearTimeout(timer);
}
