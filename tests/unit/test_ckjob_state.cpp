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
#include "ckjob_tasks.hpp"
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

Record rec(int64_t started, int64_t ended, int status) {
  Record r;
  r.started_ns = started;
  r.ended_ns = ended;
  r.status = status;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(decide_start_or_restore) {
  // No checkpoint: start, whatever SLURM says.
  BOOST_TEST((decide(std::nullopt, std::nullopt, 0).action == Action::start));
  BOOST_TEST((decide(std::nullopt, rec(100 * s, 0, 0), 3).action == Action::start));
  // Requeued job with a checkpoint: restore.
  BOOST_TEST((decide(50 * s, rec(100 * s, 0, 0), 1).action == Action::restore));
  // A checkpoint and no record of a run (copied from elsewhere): restore.
  BOOST_TEST((decide(50 * s, std::nullopt, 0).action == Action::restore));
  // Submitted again: a checkpoint newer than the last start was never restored.
  BOOST_TEST((decide(150 * s, rec(100 * s, 0, 0), 0).action == Action::restore));
  // ... and one older than the last start is stale.
  auto d = decide(50 * s, rec(100 * s, 0, 0), 0);
  BOOST_TEST((d.action == Action::start));
  BOOST_TEST(d.why.find("older than the last start") != std::string::npos);
  // The program finished after its last checkpoint: never restore that, requeued or not.
  d = decide(150 * s, rec(100 * s, 200 * s, 3), 2);
  BOOST_TEST((d.action == Action::start));
  BOOST_TEST(d.why.find("status 3") != std::string::npos);
  // A checkpoint made after the end (a new run's periodic one) counts again.
  BOOST_TEST((decide(250 * s, rec(220 * s, 200 * s, 0), 1).action == Action::restore));
}

BOOST_AUTO_TEST_CASE(decide_program_ended_in_this_job) {
  Record ended = rec(100 * s, 200 * s, 3);
  ended.job = "7";
  // A task whose program ended while another task of the step had the job requeued: the next
  // run of the same job does not run it again, it ends with the same status.
  auto d = decide(150 * s, ended, 1, "7");
  BOOST_TEST((d.action == Action::done));
  BOOST_TEST(d.why.find("status 3") != std::string::npos);
  BOOST_TEST((decide(std::nullopt, ended, 1, "7").action == Action::done));
  // Another job with the same -D, or a resubmission (no restart): the program runs anew.
  BOOST_TEST((decide(150 * s, ended, 1, "8").action == Action::start));
  BOOST_TEST((decide(150 * s, ended, 0, "7").action == Action::start));
  // Requeued but the program had not ended: restore.
  Record running = rec(100 * s, 0, 0);
  running.job = "7";
  BOOST_TEST((decide(150 * s, running, 1, "7").action == Action::restore));
}

BOOST_AUTO_TEST_CASE(record_round_trip) {
  TempDir t;
  const std::string dir = (t.path / "ckpt").string();
  BOOST_TEST(!ck::job::read_record(dir).has_value());
  ck::job::write_record(dir, rec(123456789012345678, 0, 0));
  auto r = ck::job::read_record(dir);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->started_ns == 123456789012345678);
  BOOST_TEST(r->ended_ns == 0);
  ck::job::write_record(dir, rec(1, 2, 137));
  r = ck::job::read_record(dir);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->ended_ns == 2);
  BOOST_TEST(r->status == 137);
  struct stat st {};
  BOOST_REQUIRE(stat((dir + ".ckjob").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  Record f = rec(5, 0, 0);
  f.job = "4242_7";
  f.final_restart = 3;
  f.final_ok = true;
  ck::job::write_record(dir, f);
  r = ck::job::read_record(dir);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->job == "4242_7");
  BOOST_TEST(r->final_restart == 3);
  BOOST_TEST(r->final_ok);
  BOOST_TEST(r->ended_ns == 0);
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

BOOST_AUTO_TEST_CASE(dir_patterns) {
  using ck::job::expand_dir;
  ck::job::JobEnv e;
  e.job_id = "812";
  e.array_job_id = "800";
  e.array_task_id = "12";
  BOOST_TEST(expand_dir("ckpt", e, 0) == "ckpt");
  BOOST_TEST(expand_dir("/scratch/%j/ckpt-%t", e, 3) == "/scratch/812/ckpt-3");
  BOOST_TEST(expand_dir("ckpt-%A_%a", e, 0) == "ckpt-800_12");
  BOOST_TEST(expand_dir("100%%-%t", e, 1) == "100%-1");
  auto usage = [](const ck::Error& err) { return err.code() == ck::ExitCode::usage; };
  BOOST_CHECK_EXCEPTION(expand_dir("ckpt-%x", e, 0), ck::Error, usage);
  BOOST_CHECK_EXCEPTION(expand_dir("ckpt-%", e, 0), ck::Error, usage);
  e.array_task_id.clear();
  BOOST_CHECK_EXCEPTION(expand_dir("ckpt-%a", e, 0), ck::Error, usage);
  // Several tasks in one step: each needs its own directory.
  e.tasks = 4;
  BOOST_TEST(expand_dir("ckpt-%t", e, 2) == "ckpt-2");
  try {
    expand_dir("ckpt", e, 0);
    BOOST_FAIL("4 tasks shared one checkpoint directory");
  } catch (const ck::Error& err) {
    BOOST_TEST(std::string(err.what()).find("put %t in it (e.g. -D ckpt-%t)") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(step_progress_of_other_tasks) {
  TempDir t;
  const std::string pattern = (t.path / "ckpt-%t").string();
  ck::job::JobEnv e;
  e.job_id = "9";
  e.restart_count = 1;
  e.tasks = 3;
  e.rank = 0;
  auto dir = [&](int r) { return ck::job::expand_dir(pattern, e, r); };
  auto p = ck::job::step_progress(pattern, e);
  BOOST_TEST(p.written == 0);
  BOOST_TEST(p.missing == "1, 2");
  BOOST_TEST(p.requeuer == 0);
  // Seen from task 2: task 0 requeues, unless its program ended in this job; then task 1.
  e.rank = 2;
  BOOST_TEST(ck::job::step_progress(pattern, e).requeuer == 0);
  Record ended0 = rec(1, 2, 0);
  ended0.job = "9";
  ck::job::write_record(dir(0), ended0);
  BOOST_TEST(ck::job::step_progress(pattern, e).requeuer == 1);
  e.rank = 1;
  BOOST_TEST(ck::job::step_progress(pattern, e).requeuer == 1);
  fs::remove(dir(0) + ".ckjob");
  e.rank = 0;
  Record r1 = rec(1, 0, 0);
  r1.job = "9";
  r1.final_restart = 1;
  r1.final_ok = true;
  ck::job::write_record(dir(1), r1);
  // Task 2's record is from the run before (its checkpoint then), or from another job.
  Record r2 = r1;
  r2.final_restart = 0;
  ck::job::write_record(dir(2), r2);
  p = ck::job::step_progress(pattern, e);
  BOOST_TEST(p.written == 1);
  BOOST_TEST(p.missing == "2");
  r2.final_restart = 1;
  r2.job = "8";
  ck::job::write_record(dir(2), r2);
  BOOST_TEST(ck::job::step_progress(pattern, e).missing == "2");
  // Its program ended in this job: nothing to wait for.
  Record ended = rec(1, 2, 0);
  ended.job = "9";
  ck::job::write_record(dir(2), ended);
  p = ck::job::step_progress(pattern, e);
  BOOST_TEST(p.written == 2);
  BOOST_TEST(p.missing.empty());
  BOOST_TEST(!p.failed.has_value());
  // Its checkpoint failed.
  r2.job = "9";
  r2.final_ok = false;
  ck::job::write_record(dir(2), r2);
  p = ck::job::step_progress(pattern, e);
  BOOST_REQUIRE(p.failed.has_value());
  BOOST_TEST(*p.failed == 2);
}
