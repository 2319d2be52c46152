/**
 * Thrown when a subpath entry point (`nestjs-meridian-stream/typeorm`, `/redis`, ...) is imported
 * but the optional peer dependency it is built on is not installed.
 */
export class MissingPeerDependencyError extends Error {
  constructor(
    /** The package to install, e.g. `ioredis`. */
    readonly peer: string,
    /** The entry point that needs it, e.g. `nestjs-meridian-stream/redis`. */
    readonly entryPoint: string,
    options?: ErrorOptions,
  ) {
    super(`${entryPoint} needs the optional peer dependency "${peer}": npm install ${peer}`, options);
    this.name = 'MissingPeerDependencyError';
  }
}

/**
 * Loads the implementation of a subpath entry point once its optional peer dependency is known to
 * be installed.
 *
 * An ES module's static imports are all resolved before any of its code runs, so an entry point
 * that imported its implementation statically would fail with Node's bare `ERR_MODULE_NOT_FOUND`
 * and no hint that the package is an optional peer. Entry points therefore import the peer first,
 * turn "not found" into a {@link MissingPeerDependencyError} that names the package to install,
 * and only then reach the implementation through `load` (a dynamic `import()`), awaited at the top
 * level of the entry module. Any other failure (a peer that is present but broken, a missing
 * dependency of the peer) is rethrown untouched.
 */
export async function loadWithOptionalPeer<T>(peer: string, entryPoint: string, load: () => Promise<T>): Promise<T> {
  try {
    await import(peer);
  } catch (error) {
    if (isPackageNotFound(error, peer)) throw new MissingPeerDependencyError(peer, entryPoint, { cause: error });
    throw error;
  }
  return load();
}

/**
 * Node says `Cannot find package 'ioredis' imported from ...` (`ERR_MODULE_NOT_FOUND`); Jest's
 * resolver says `Cannot find module 'ioredis' from ...` (`MODULE_NOT_FOUND`). Either way the
 * quoted name must be the peer itself, not some package the peer depends on.
 */
function isPackageNotFound(error: unknown, peer: string): boolean {
  // Duck-typed rather than `instanceof Error`: Jest raises it from another realm.
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    message.includes(`'${peer}'`)
  );
}
