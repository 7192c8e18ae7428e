/**
 * The WASI preview1 functions Envoy provides to a proxy-wasm module: stdout
 * and stderr go to the log, the environment comes from the VM configuration,
 * clocks follow the host clock, and the rest answer like Envoy's stubs.
 */
import { RANDOM_GET_MAX_BYTES, toBytes, toText } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export const WASI_ERRNO = { SUCCESS: 0, BADF: 8, EFAULT: 21, INVAL: 28, NOENT: 44, NOSYS: 52, NOTSUP: 58 } as const;

/** Return codes of the WASI functions Envoy stubs out (cpp-host `exports.cc`). */
export const WASI_STUB_RESULTS: Record<string, number> = {
  fd_read: WASI_ERRNO.NOSYS,
  fd_seek: 0,
  fd_close: 0,
  fd_fdstat_set_flags: WASI_ERRNO.NOSYS,
  fd_fdstat_set_rights: 0,
  fd_advise: 0,
  fd_allocate: 0,
  fd_datasync: 0,
  fd_filestat_set_size: 0,
  fd_filestat_set_times: 0,
  fd_pread: WASI_ERRNO.NOSYS,
  fd_pwrite: 0,
  fd_readdir: 20,
  fd_renumber: WASI_ERRNO.NOTSUP,
  fd_sync: 0,
  fd_tell: 0,
  path_create_directory: WASI_ERRNO.NOTSUP,
  path_filestat_set_times: WASI_ERRNO.NOTSUP,
  path_link: WASI_ERRNO.NOTSUP,
  path_readlink: WASI_ERRNO.NOTSUP,
  path_remove_directory: WASI_ERRNO.NOTSUP,
  path_rename: WASI_ERRNO.NOTSUP,
  path_symlink: WASI_ERRNO.NOTSUP,
  path_unlink_file: WASI_ERRNO.NOTSUP,
  sock_accept: WASI_ERRNO.NOTSUP,
  sock_recv: WASI_ERRNO.NOTSUP,
  sock_send: WASI_ERRNO.NOTSUP,
  sock_shutdown: WASI_ERRNO.NOTSUP,
  sched_yield: 0,
  path_open: WASI_ERRNO.NOENT,
  fd_prestat_get: WASI_ERRNO.BADF,
  fd_prestat_dir_name: WASI_ERRNO.NOSYS,
  path_filestat_get: WASI_ERRNO.NOTSUP,
  fd_filestat_get: WASI_ERRNO.BADF,
  clock_res_get: 0,
  poll_oneoff: 0,
};

export function wasiFunctions(vm: Guest): HostFunctions {
  return {
    fd_write: (fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => {
      if (fd !== 1 && fd !== 2) return WASI_ERRNO.BADF;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < u32(iovsLen); i++) {
        const iov = vm.mem.read(u32(iovs) + i * 8, 8);
        if (!iov) return WASI_ERRNO.EFAULT;
        const view = new DataView(iov.buffer);
        const buf = vm.mem.read(view.getUint32(0, true), view.getUint32(4, true));
        if (!buf) return WASI_ERRNO.EFAULT;
        parts.push(buf);
      }
      let text = parts.map((p) => toText(p)).join("");
      const written = parts.reduce((n, p) => n + p.length, 0);
      if (written > 0) {
        if (text.endsWith("\n")) text = text.slice(0, -1);
        vm.host.log(vm.label, fd === 1 ? 2 : 4, text);
      }
      return vm.mem.writeU32(u32(nwrittenPtr), written) ? 0 : WASI_ERRNO.EFAULT;
    },
    fd_fdstat_get: (fd: number, statPtr: number) => {
      if (fd !== 1 && fd !== 2) return WASI_ERRNO.BADF;
      const stat = new Uint8Array(24);
      stat[8] = 64; // fs_rights_base = __WASI_RIGHTS_FD_WRITE
      return vm.mem.writeBytes(u32(statPtr), stat) ? 0 : WASI_ERRNO.EFAULT;
    },
    environ_sizes_get: (countPtr: number, sizePtr: number) => {
      const env = environOf(vm);
      const size = env.reduce((n, e) => n + e.length + 1, 0);
      return vm.mem.writeU32(u32(countPtr), env.length) && vm.mem.writeU32(u32(sizePtr), size) ? 0 : WASI_ERRNO.EFAULT;
    },
    environ_get: (arrayPtr: number, bufPtr: number) => {
      let offset = u32(bufPtr);
      let slot = u32(arrayPtr);
      for (const entry of environOf(vm)) {
        if (!vm.mem.writeU32(slot, offset) || !vm.mem.writeBytes(offset, entry) || !vm.mem.writeBytes(offset + entry.length, new Uint8Array(1))) {
          return WASI_ERRNO.EFAULT;
        }
        slot += 4;
        offset += entry.length + 1;
      }
      return 0;
    },
    args_sizes_get: (argcPtr: number, sizePtr: number) => (vm.mem.writeU32(u32(argcPtr), 0) && vm.mem.writeU32(u32(sizePtr), 0) ? 0 : WASI_ERRNO.EFAULT),
    args_get: () => 0,
    clock_time_get: (clockId: number, _precision: bigint, resultPtr: number) => {
      if (clockId !== 0 && clockId !== 1) return WASI_ERRNO.NOTSUP;
      const now = clockId === 0 ? vm.host.nowNs() : vm.host.monotonicNs();
      return vm.mem.writeU64(u32(resultPtr), now) ? 0 : WASI_ERRNO.EFAULT;
    },
    clock_res_get: (clockId: number, resultPtr: number) => {
      if (clockId !== 0 && clockId !== 1) return WASI_ERRNO.NOTSUP;
      return vm.mem.writeU64(u32(resultPtr), 1n) ? 0 : WASI_ERRNO.EFAULT;
    },
    random_get: (ptr: number, len: number) => {
      if (u32(len) > RANDOM_GET_MAX_BYTES) return WASI_ERRNO.INVAL;
      if (u32(len) === 0) return 0;
      const bytes = new Uint8Array(u32(len));
      crypto.getRandomValues(bytes);
      return vm.mem.writeBytes(u32(ptr), bytes) ? 0 : WASI_ERRNO.EFAULT;
    },
    poll_oneoff: (_in: number, _out: number, _n: number, neventsPtr: number) => (vm.mem.writeU32(u32(neventsPtr), 0) ? 0 : WASI_ERRNO.EFAULT),
    proc_exit: (code: number) => {
      // Envoy only logs it; the module then runs on to its own `unreachable`.
      vm.host.recordProcExit(vm.label, code);
      vm.host.log(vm.label, 4, "wasi_unstable proc_exit");
    },
    fd_seek: () => {
      vm.host.log(vm.label, 4, "wasi_unstable fd_seek");
      return 0;
    },
    fd_close: () => {
      vm.host.log(vm.label, 4, "wasi_unstable fd_close");
      return 0;
    },
  };
}

function environOf(vm: Guest): Uint8Array[] {
  return Object.entries(vm.host.options.environment).map(([k, v]) => toBytes(`${k}=${v}`));
}
