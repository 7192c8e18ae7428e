/** How a host function traps the guest, and how a trap is told from a bug in the host. */

/** Thrown from a host function to trap the guest (like the C++ host's `trap()`). */
export class HostTrap extends Error {}

/** Errors that mean "the VM trapped" (as opposed to a bug in this host). */
export function isTrap(error: unknown): boolean {
  return error instanceof WebAssembly.RuntimeError || error instanceof HostTrap || (error instanceof RangeError && /call stack/i.test(error.message));
}
