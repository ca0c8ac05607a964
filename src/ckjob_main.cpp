// ckjob: a job script's one line to carry any program across wall times and node failures.
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "ckjob.hpp"
#include "cli_common.hpp"

namespace {

const char kHelp[] =
    "usage: ckjob -D DIR [options] -- PROGRAM [ARGS...]\n"
    "Run PROGRAM so that it survives the end of the job: on the first run start it (under ckrun,\n"
    "so that its user can checkpoint and restore it); when the job was requeued\n"
    "(SLURM_RESTART_COUNT > 0) or DIR holds a checkpoint newer than the last start, restore it\n"
    "instead. On the signal (default USR1, e.g. #SBATCH --signal=B:USR1@120 with exec ckjob),\n"
    "checkpoint it into DIR and requeue the job (scontrol requeue $SLURM_JOB_ID). Each step is\n"
    "logged with a timestamp on stderr.\n"
    "\n"
    "  -D, --dir DIR         checkpoint: a link to the newest version in DIR.d/ (as ckdump -D);\n"
    "                        DIR.ckjob records when the program last started and ended. SLURM's\n"
    "                        patterns: %t task (needed when srun runs several), %j job id,\n"
    "                        %A array job id, %a array task id, %% a %\n"
    "  -s, --signal SIG      checkpoint and requeue on SIG (name or number; default USR1)\n"
    "  -i, --interval SECS   also checkpoint every SECS seconds, leaving the program running,\n"
    "                        for node failures, where no signal comes\n"
    "      --keep N          checkpoint versions kept (default 2)\n"
    "      --no-requeue      on the signal, checkpoint and exit without requeueing\n"
    "      --compress=MODE   as ckdump's: none, fast (zstd level -1, the default) or a zstd\n"
    "                        level N (-100..-1 faster, larger; 1..19 slower, smaller)\n"
    "  -j, --threads N       compression threads (default: all CPUs)\n"
    "  -v, --verbose         also log the checkpoint and restore steps\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: the program's once it ends (128+N if killed by signal N); 0 after the checkpoint\n"
    "on the signal (the program goes on in the next run); 1-6 as ckrestore's when a restore\n"
    "fails (the program is not started anew: that would repeat its work and its output).\n";

}  // namespace

int main(int argc, char** argv) {
  return ck::run_main("ckjob", [&] {
    ck::job::Options o;
    enum { kKeep = 1000, kNoRequeue, kCompress };
    static const option longopts[] = {{"dir", required_argument, nullptr, 'D'},
                                      {"signal", required_argument, nullptr, 's'},
                                      {"interval", required_argument, nullptr, 'i'},
                                      {"keep", required_argument, nullptr, kKeep},
                                      {"no-requeue", no_argument, nullptr, kNoRequeue},
                                      {"compress", required_argument, nullptr, kCompress},
                                      {"threads", required_argument, nullptr, 'j'},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    int c;
    // '+': options end at the first non-option, which is the program.
    while ((c = getopt_long(argc, argv, "+D:s:i:j:vh", longopts, nullptr)) != -1) {
      switch (c) {
        case 'D': o.dir = optarg; break;
        case 's': o.signal = ck::job::parse_signal(optarg); break;
        case 'i': o.interval = static_cast<unsigned>(ck::parse_number("--interval", optarg, 1, 1000000)); break;
        case kKeep: o.keep = static_cast<unsigned>(ck::parse_number("--keep", optarg, 1, 1000000)); break;
        case kNoRequeue: o.requeue = false; break;
        case kCompress: o.level = ck::parse_compress(optarg); break;
        case 'j': o.threads = static_cast<unsigned>(ck::parse_number("--threads", optarg, 1, 1024)); break;
        case 'v': ck::log::verbosity++; break;
        case 'h': fputs(kHelp, stdout); return 0;
        default: ck::usage_error("bad option");
      }
    }
    if (o.dir.empty()) ck::usage_error("missing -D DIR");
    for (int i = optind; i < argc; i++) o.program.push_back(argv[i]);
    if (o.program.empty()) ck::usage_error("missing PROGRAM (after --)");
    return ck::job::run(o);
  });
}
