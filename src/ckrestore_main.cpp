#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "cli_common.hpp"
#include "namespaces.hpp"
#include "restore.hpp"
#include "run_stats.hpp"

namespace {

const char kHelp[] =
    "usage: ckrestore -D DIR [options]\n"
    "Restore the process checkpointed in DIR. Without -d, wait for it, pass on the signals\n"
    "TERM, INT, HUP, QUIT, USR1, USR2 and CONT, and exit with its status.\n"
    "\n"
    "  -D, --dir DIR         image directory\n"
    "  -d, --detach          print the PID and return once the process runs\n"
    "      --stdio=MODE      inherit (default): the process's terminal/pipe stdin, stdout and\n"
    "                        stderr become ckrestore's own; null: they become /dev/null\n"
    "      --stats[=FILE]    figures of the restore as one line of JSON on stderr (stdout is\n"
    "                        the program's) or to FILE: time per phase, bytes, peak memory\n"
    "  -v, --verbose         say what happens, step by step\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes (before the process runs): 1 failure, 2 usage, 3 bad image, 4 unsupported,\n"
    "5 permission, 6 conflict (PID in use, file changed). Nothing is left behind on failure.\n";

}  // namespace

int main(int argc, char** argv) {
  return ck::run_main("ckrestore", [&] {
    ck::RestoreOptions o;
    bool stats = false;
    std::string stats_path;
    enum { kStdio = 1000, kStats };
    static const option longopts[] = {{"dir", required_argument, nullptr, 'D'},
                                      {"detach", no_argument, nullptr, 'd'},
                                      {"stdio", required_argument, nullptr, kStdio},
                                      {"stats", optional_argument, nullptr, kStats},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "D:dvh", longopts, nullptr)) != -1) {
      switch (c) {
        case 'D': o.dir = optarg; break;
        case 'd': o.detach = true; break;
        case kStdio: {
          std::string m = optarg;
          if (m == "inherit") o.stdio = ck::StdioMode::inherit;
          else if (m == "null") o.stdio = ck::StdioMode::null;
          else ck::usage_error("--stdio must be inherit or null");
          break;
        }
        case kStats:
          stats = true;
          stats_path = optarg ? optarg : "";
          break;
        case 'v': ck::log::verbosity++; break;
        case 'h': fputs(kHelp, stdout); return 0;
        default: ck::usage_error("bad option");
      }
    }
    if (optind != argc) ck::usage_error(std::string("unexpected argument '") + argv[optind] + "'");
    if (o.dir.empty()) ck::usage_error("missing -D DIR");
    std::optional<ck::StatsOutput> stats_out;
    if (stats) stats_out.emplace(stats_path, STDERR_FILENO);
    ck::RestoreResult r = ck::restore(o);
    CK_LOG(1, "pid %d runs again after %.3f s", r.pid, r.seconds);
    if (stats_out) stats_out->write(ck::restore_stats_json(r));
    if (o.detach) {
      printf("%d\n", r.pid);
      return 0;
    }
    // Like the program's parent would: signals sent to ckrestore (SLURM's, a user's) reach it.
    return ck::ns::forward_and_wait(r.pid);
  });
}
