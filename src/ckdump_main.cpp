#include <getopt.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "cli_common.hpp"
#include "dump.hpp"
#include "run_stats.hpp"

namespace {

const char kHelp[] =
    "usage: ckdump -t PID -D DIR [options]\n"
    "Checkpoint process PID into the image directory DIR, then end it.\n"
    "\n"
    "  -t, --tree PID        process to checkpoint\n"
    "  -D, --dir DIR         a link to the newest checkpoint in DIR.d/, switched atomically once\n"
    "                        the new image is complete and verified\n"
    "      --keep N          checkpoint versions kept in DIR.d/, the new one included (default 2)\n"
    "  -R, --leave-running   let the process run on after the checkpoint\n"
    "      --drop-external-tcp  a TCP connection to a peer outside the tree does not stop the\n"
    "                        checkpoint: it is closed, and the restored program finds it reset\n"
    "      --compress=MODE   none (pages stored raw), fast (zstd level -1, the default), or a\n"
    "                        zstd level N: -100..-1 (faster, larger) or 1..19 (slower, smaller)\n"
    "  -j, --threads N       compression threads (default: all CPUs)\n"
    "      --stats[=FILE]    figures of the dump as one line of JSON on stdout (or to FILE):\n"
    "                        wall and frozen time, bytes, time per phase, peak memory\n"
    "  -v, --verbose         say what happens, step by step (twice: more)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 4 unsupported resource, 5 permission.\n"
    "On any failure the process keeps running as if nothing happened.\n";

}  // namespace

int main(int argc, char** argv) {
  return ck::run_main("ckdump", [&] {
    ck::DumpOptions o;
    bool stats = false;
    std::string stats_path;
    enum { kCompress = 1000, kStats, kKeep, kDropTcp };
    static const option longopts[] = {{"tree", required_argument, nullptr, 't'},
                                      {"dir", required_argument, nullptr, 'D'},
                                      {"leave-running", no_argument, nullptr, 'R'},
                                      {"compress", required_argument, nullptr, kCompress},
                                      {"threads", required_argument, nullptr, 'j'},
                                      {"stats", optional_argument, nullptr, kStats},
                                      {"keep", required_argument, nullptr, kKeep},
                                      {"drop-external-tcp", no_argument, nullptr, kDropTcp},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:D:Rj:vh", longopts, nullptr)) != -1) {
      switch (c) {
        case 't': o.pid = static_cast<pid_t>(ck::parse_number("-t", optarg, 1, 1 << 22)); break;
        case 'D': o.dir = optarg; break;
        case 'R': o.leave_running = true; break;
        case 'j': o.threads = static_cast<unsigned>(ck::parse_number("--threads", optarg, 1, 1024)); break;
        case kCompress: o.level = ck::parse_compress(optarg); break;
        case kStats:
          stats = true;
          stats_path = optarg ? optarg : "";
          break;
        case kDropTcp: o.drop_external_tcp = true; break;
        case kKeep: o.keep = static_cast<unsigned>(ck::parse_number("--keep", optarg, 1, 1000000)); break;
        case 'v': ck::log::verbosity++; break;
        case 'h': fputs(kHelp, stdout); return 0;
        default: ck::usage_error("bad option");
      }
    }
    if (optind != argc) ck::usage_error(std::string("unexpected argument '") + argv[optind] + "'");
    if (o.pid <= 0) ck::usage_error("missing -t PID");
    if (o.dir.empty()) ck::usage_error("missing -D DIR");
    o.progress = isatty(2);
    std::optional<ck::StatsOutput> stats_out;
    if (stats) stats_out.emplace(stats_path, STDOUT_FILENO);
    ck::DumpReport r = ck::dump(o);
    CK_LOG(1, "done: %llu pages (%llu zero pages skipped), %.1f MiB in the image, frozen %.3f s, total %.3f s",
           static_cast<unsigned long long>(r.pages), static_cast<unsigned long long>(r.zero_pages),
           r.image_bytes / 1048576.0, r.frozen_seconds, r.total_seconds);
    if (stats_out) stats_out->write(ck::dump_stats_json(o, r));
    return 0;
  });
}
