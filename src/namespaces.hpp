// The namespaces ckrun puts a program in and ckrestore recreates: a user namespace mapping
// only the user's own ids, a PID namespace and a mount namespace with its own /proc.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>

namespace ck::ns {

// clone3 into new user, PID and mount namespaces (fork semantics: 0 in the child, which is
// PID 1 there). The child must wait until the parent has written its id maps.
// With `net`, also a new network namespace (ckrun --net), whose loopback the child brings up.
pid_t clone_into_new_namespaces(bool net = false);

// In a new network namespace: loopback up (127.0.0.1 and ::1), as on any machine.
void bring_up_loopback();

// "ID ID 1": the only map an unprivileged user may write.
std::string own_id_map(unsigned id);
// /proc/PID/uid_map pads its columns; this gives "A B C" lines, as written.
std::string normalize_id_map(const std::string& text);
// Writes /proc/PID/uid_map and gid_map (setgroups denied first, as the kernel requires of an
// unprivileged writer).
void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map);

// In the new namespaces: a private mount tree and a /proc showing the new PID namespace.
void mount_own_proc();

// The signals ckrun and ckrestore pass on to the program.
sigset_t forwarded_signals();

// PID 1's life: reaps every child, forwards `set` signals to `prog`, exits with prog's status
// once it ends. `set` must be blocked.
[[noreturn]] void init_loop(pid_t prog, const sigset_t& set);

// The outer process: forwards signals to `child` until it exits; returns a shell-like status.
int forward_and_wait(pid_t child);

// Whether `pid` (a pid of ours) is PID 1 of a PID namespace nested in ours, and the PID it has
// there (the last NSpid entry of /proc/PID/status).
pid_t inner_pid(pid_t pid);

// Whether `pid` is in another namespace of `kind` ("net", "ipc", ...) than ckdump itself.
bool other_ns(pid_t pid, const char* kind);

}  // namespace ck::ns
