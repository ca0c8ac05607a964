// Fault injection for the safety tests (tests/e2e/fault_injection.sh): CK_FAULT=NAME makes
// ckdump SIGKILL itself when it reaches the point NAME, CK_FAULT=error@NAME makes it fail there
// with an ordinary error; several can be given, separated by commas, and CK_FAULT=area makes
// ckdump use the injection-area fallback; CK_FAULT=send_stop makes ckdump send a SIGSTOP to the
// first thread it injects syscalls into, just before the first one (a stop arriving then is
// held and sent again later). Without CK_FAULT nothing happens. The points, in dump order:
//   seized        every thread of the tree seized and stopped, nothing changed yet
//   armed         a thread's registers point at its way back, its signals blocked
//   stop_held     a SIGSTOP the thread got is held back (the thread resumed without it)
//   injected      a thread is inside an injected syscall (at its syscall-exit stop)
//   mmap_window   (injection-area fallback only) the mmap of the area runs in the kernel
//   peek_off      a unix or UDP socket's queue was peeked: its SO_PEEK_OFF is changed
//   repair        a TCP connection is in repair mode, its queues read
//   pages         the first page stream is half written
//   commit        every image file written, the commit not started
//   committed     the image committed, the tree still seized
//   silenced      (no -R) the tree's TCP connections in repair mode for its kill
//   killing       (no -R) the guardian told the tree is being killed, no kill sent yet
#pragma once

namespace ck {

void fault_point(const char* name);
// Whether NAME is in CK_FAULT.
bool fault_enabled(const char* name);

}  // namespace ck
