// The sock_diag reply parser on a real dump (tests/fixtures/sock_diag, made by
// make_unix_dump.py there) and on damaged replies, which must raise ck::Error and nothing worse.
#define BOOST_TEST_MODULE test_sock_diag
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>

#include "error.hpp"
#include "sock_diag.hpp"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(CK_FIXTURES) + "/sock_diag/" + name, std::ios::binary);
  BOOST_REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

BOOST_AUTO_TEST_CASE(real_dump_parses_as_expected) {
  std::string reply = fixture("unix_dump.bin");
  std::map<uint64_t, ck::UnixDiag> got;
  BOOST_TEST(ck::parse_unix_diag(reply, got));
  std::istringstream expect(fixture("unix_dump.txt"));
  uint64_t ino;
  unsigned state, peer, rq, wq, icons, shut, vfs;
  size_t n = 0;
  while (expect >> ino >> state >> peer >> rq >> wq >> icons >> shut >> vfs) {
    BOOST_TEST_CONTEXT("socket " << ino) {
      BOOST_REQUIRE(got.count(ino));
      const ck::UnixDiag& d = got.at(ino);
      BOOST_TEST(d.state == state);
      BOOST_TEST(d.peer == peer);
      BOOST_TEST(d.rqueue == rq);
      BOOST_TEST(d.wqueue == wq);
      BOOST_TEST(d.icons == icons);
      BOOST_TEST(d.shutdown == shut);
      BOOST_TEST(d.has_vfs == (vfs != 0));
    }
    n++;
  }
  BOOST_TEST(n == 6u);
  BOOST_TEST(got.size() == 6u);
  // The fixture's listener has backlog 7 and one connection waiting; the pair 5 bytes queued.
  size_t listeners = 0;
  for (auto& [i, d] : got) {
    if (d.state != 10) continue;
    listeners++;
    BOOST_TEST(d.wqueue == 7u);
    BOOST_TEST(d.icons == 1u);
  }
  BOOST_TEST(listeners == 1u);
}

BOOST_AUTO_TEST_CASE(a_reply_without_done_asks_for_more) {
  std::string reply = fixture("unix_dump.bin");
  std::map<uint64_t, ck::UnixDiag> got;
  BOOST_TEST(!ck::parse_unix_diag(std::string_view(reply).substr(0, reply.size() - 20), got));
  BOOST_TEST(got.size() == 6u);
}

BOOST_AUTO_TEST_CASE(damaged_replies_throw_never_crash) {
  const std::string reply = fixture("unix_dump.bin");
  std::mt19937 rng(8);
  for (size_t len = 0; len < reply.size(); len++) {
    std::map<uint64_t, ck::UnixDiag> got;
    try {
      ck::parse_unix_diag(std::string_view(reply).substr(0, len), got);
    } catch (const ck::Error&) {
    }
  }
  for (int i = 0; i < 20000; i++) {
    std::string bad = reply;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    std::map<uint64_t, ck::UnixDiag> got;
    try {
      ck::parse_unix_diag(bad, got);
    } catch (const ck::Error&) {
    }
  }
  std::string huge = reply;
  huge[0] = '\xff';  // first message claims more bytes than there are
  std::map<uint64_t, ck::UnixDiag> got;
  BOOST_CHECK_THROW(ck::parse_unix_diag(huge, got), ck::Error);
}
