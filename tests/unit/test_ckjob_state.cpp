// ckjob's memory between runs: when a run restores and when it starts anew, the record file,
// and the pruning of old versions at the program's end.
#define BOOST_TEST_MODULE ckjob_state
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ckjob_state.hpp"
#include "error.hpp"
#include "image_dir.hpp"

namespace fs = std::filesystem;
using ck::job::Action;
using ck::job::decide;
using ck::job::Record;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/ck-unit-ckjob.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

constexpr int64_t s = 1000000000;

}  // namespace

BOOST_AUTO_TEST_CASE(decide_start_or_restore) {
  // No checkpoint: start, whatever SLURM says.
  BOOST_TEST((decide(std::nullopt, std::nullopt, 0).action == Action::start));
  BOOST_TEST((decide(std::nullopt, Record{100 * s, 0, 0}, 3).action == Action::start));
  // Requeued job with a checkpoint: restore.
  BOOST_TEST((decide(50 * s, Record{100 * s, 0, 0}, 1).action == Action::restore));
  // A checkpoint and no record of a run (copied from elsewhere): restore.
  BOOST_TEST((decide(50 * s, std::nullopt, 0).action == Action::restore));
  // Submitted again: a checkpoint newer than the last start was never restored.
  BOOST_TEST((decide(150 * s, Record{100 * s, 0, 0}, 0).action == Action::restore));
  // ... and one older than the last start is stale.
  auto d = decide(50 * s, Record{100 * s, 0, 0}, 0);
  BOOST_TEST((d.action == Action::start));
  BOOST_TEST(d.why.find("older than the last start") != std::string::npos);
  // The program finished after its last checkpoint: never restore that, requeued or not.
  d = decide(150 * s, Record{100 * s, 200 * s, 3}, 2);
  BOOST_TEST((d.action == Action::start));
  BOOST_TEST(d.why.find("status 3") != std::string::npos);
  // A checkpoint made after the end (a new run's periodic one) counts again.
  BOOST_TEST((decide(250 * s, Record{220 * s, 200 * s, 0}, 1).action == Action::restore));
}

BOOST_AUTO_TEST_CASE(record_round_trip) {
  TempDir t;
  const std::string dir = (t.path / "ckpt").string();
  BOOST_TEST(!ck::job::read_record(dir).has_value());
  ck::job::write_record(dir, Record{123456789012345678, 0, 0});
  auto r = ck::job::read_record(dir);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->started_ns == 123456789012345678);
  BOOST_TEST(r->ended_ns == 0);
  ck::job::write_record(dir, Record{1, 2, 137});
  r = ck::job::read_record(dir);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->ended_ns == 2);
  BOOST_TEST(r->status == 137);
  struct stat st {};
  BOOST_REQUIRE(stat((dir + ".ckjob").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  std::ofstream(dir + ".ckjob") << "garbage\n";
  BOOST_TEST(!ck::job::read_record(dir).has_value());
}

BOOST_AUTO_TEST_CASE(checkpoint_time_of_link) {
  TempDir t;
  const std::string dir = (t.path / "ckpt").string();
  BOOST_TEST(!ck::job::checkpoint_time(dir).has_value());
  fs::create_directories(t.path / "ckpt.d" / "000001-20260101T000000Z");
  fs::create_directory_symlink("ckpt.d/000001-20260101T000000Z", dir);
  BOOST_CHECK_THROW(ck::job::checkpoint_time(dir), ck::Error);  // no manifest: not a checkpoint
  std::ofstream(t.path / "ckpt.d" / "000001-20260101T000000Z" / "manifest.ck") << "x";
  auto when = ck::job::checkpoint_time(dir);
  BOOST_REQUIRE(when.has_value());
  BOOST_TEST(*when > 0);
}

BOOST_AUTO_TEST_CASE(prune_keeps_newest_and_current) {
  TempDir t;
  const std::string dir = (t.path / "ckpt").string();
  const fs::path versions = t.path / "ckpt.d";
  for (const char* v : {"000001-20260101T000000Z", "000002-20260101T000100Z", "000003-20260101T000200Z",
                        "1000000-20260101T000300Z"})
    fs::create_directories(versions / v);
  fs::create_directories(versions / "mine");  // not a version: never touched
  fs::create_directory_symlink("ckpt.d/000001-20260101T000000Z", dir);
  BOOST_TEST(ck::img::prune_versions(dir, 1) == 2u);
  BOOST_TEST(fs::exists(versions / "1000000-20260101T000300Z"));  // newest (seq, not text order)
  BOOST_TEST(fs::exists(versions / "000001-20260101T000000Z"));   // the one DIR names
  BOOST_TEST(!fs::exists(versions / "000002-20260101T000100Z"));
  BOOST_TEST(!fs::exists(versions / "000003-20260101T000200Z"));
  BOOST_TEST(fs::exists(versions / "mine"));
  BOOST_TEST(ck::img::prune_versions((t.path / "none").string(), 1) == 0u);
}
