// ckjob: the job-side command that carries a program across SLURM wall times and node failures.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include "dump.hpp"

namespace ck::job {

struct Options {
  std::string dir;                   // checkpoint link (ckdump -D)
  int signal = SIGUSR1;              // checkpoint, then requeue, on this signal
  unsigned interval = 0;             // seconds between periodic checkpoints (-R); 0: none
  unsigned keep = 2;                 // checkpoint versions kept
  bool requeue = true;               // scontrol requeue after the checkpoint on `signal`
  int level = kDefaultLevel;         // zstd level of the images (as ckdump's)
  unsigned threads = 0;              // compression threads (0: all CPUs)
  std::vector<std::string> program;  // what to run on the first start
};

// Starts or restores the program, checkpoints it on the signal and every `interval` seconds,
// and returns the exit code ckjob exits with: the program's status once it ends, 0 after a
// checkpoint that ended it (it continues in the next run).
int run(const Options& o);

// "ckjob 2026-11-25T07:01:02.123Z: message" on stderr: the job output file shows each step.
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "USR1", "SIGUSR1" or "10" -> 10; throws a usage Error otherwise.
int parse_signal(const std::string& s);
std::string signal_name(int sig);

}  // namespace ck::job
