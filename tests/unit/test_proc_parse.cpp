// Tests of the /proc parsers on real samples captured on Linux 6.18 (tests/fixtures/proc, see its
// README.md) and on malformed text, which must raise ck::Error and nothing worse.
#define BOOST_TEST_MODULE test_proc_parse
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>

#include "error.hpp"
#include "proc_parse.hpp"

namespace proc = ck::proc;

namespace {

std::string fixture_path(const std::string& name) { return std::string(CK_FIXTURES) + "/proc/" + name; }

std::string fixture(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  BOOST_TEST_REQUIRE(in.good(), "missing fixture " << name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The message of the ck::Error that f throws; fails the test when it throws nothing or another type.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ck::Error& e) {
    BOOST_TEST((e.code() == ck::ExitCode::failure));
    return e.message();
  } catch (const std::exception& e) {
    BOOST_ERROR("not a ck::Error: " << e.what());
    return {};
  }
  BOOST_ERROR("no error thrown");
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const proc::MapsEntry* find_path(const std::vector<proc::MapsEntry>& v, const std::string& path) {
  auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.path == path; });
  return it == v.end() ? nullptr : &*it;
}

bool has_flag(const proc::MapsEntry& e, const std::string& f) {
  return std::find(e.vmflags.begin(), e.vmflags.end(), f) != e.vmflags.end();
}

// Every parser over any text: a result or a ck::Error, nothing else.
void parse_everything(std::string_view text) {
  auto quiet = [](auto&& f) {
    try {
      f();
    } catch (const ck::Error&) {
    }
  };
  quiet([&] { proc::parse_maps(text); });
  quiet([&] { proc::parse_smaps(text); });
  quiet([&] { proc::parse_status(text); });
  quiet([&] { proc::parse_stat(text); });
  quiet([&] { proc::parse_fdinfo(text); });
  quiet([&] { proc::parse_eventfd_fdinfo(text); });
  quiet([&] { proc::parse_timerfd_fdinfo(text); });
  quiet([&] { proc::parse_signalfd_fdinfo(text); });
  quiet([&] { proc::parse_epoll_fdinfo(text); });
  quiet([&] { proc::parse_inotify_fdinfo(text); });
  quiet([&] { proc::parse_pidfd_fdinfo(text); });
  quiet([&] { proc::parse_limits(text); });
  quiet([&] { proc::parse_auxv(text); });
  quiet([&] { proc::parse_mountinfo(text); });
  quiet([&] { proc::parse_children(text); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(maps_file)

BOOST_AUTO_TEST_CASE(cat_self_maps) {
  auto v = proc::parse_maps(fixture("maps_cat.txt"));
  BOOST_TEST_REQUIRE(v.size() == 38u);
  const auto& bin = v[0];
  BOOST_TEST(bin.start == 0x561b92720000u);
  BOOST_TEST(bin.end == 0x561b92722000u);
  BOOST_TEST((bin.read && !bin.write && !bin.exec && !bin.shared));
  BOOST_TEST(bin.offset == 0u);
  BOOST_TEST(bin.dev_major == 0xfeu);
  BOOST_TEST(bin.dev_minor == 0u);
  BOOST_TEST(bin.inode == 247134u);
  BOOST_TEST(bin.path == "/usr/bin/cat");
  BOOST_TEST(!bin.deleted);
  BOOST_TEST(v[1].exec);
  BOOST_TEST(v[1].offset == 0x2000u);

  BOOST_TEST(v[5].path == "[heap]");
  BOOST_TEST(v[6].path == "");  // anonymous: the line ends in "0 " with no padding
  BOOST_TEST(v[6].inode == 0u);
  BOOST_TEST(v[25].shared);
  BOOST_TEST(v[25].path == "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache");
  BOOST_TEST(v[28].path == "[vvar]");
  BOOST_TEST(v[29].path == "[vvar_vclock]");
  BOOST_TEST(v[30].path == "[vdso]");
  BOOST_TEST(v[36].path == "[stack]");
  const auto& vsys = v[37];
  BOOST_TEST(vsys.path == "[vsyscall]");
  BOOST_TEST(vsys.start == 0xffffffffff600000u);
  BOOST_TEST((!vsys.read && !vsys.write && vsys.exec && !vsys.shared));
  for (const auto& e : v) BOOST_TEST(e.vmflags.empty());
}

BOOST_AUTO_TEST_CASE(odd_paths) {
  auto v = proc::parse_maps(fixture("maps_odd.txt"));
  BOOST_TEST_REQUIRE(v.size() == 19u);

  auto lib = find_path(v, "/tmp/dir with space/lib (x).so");
  BOOST_TEST_REQUIRE(lib);
  BOOST_TEST(lib->deleted);
  BOOST_TEST((lib->read && lib->exec && !lib->write && !lib->shared));
  BOOST_TEST(lib->inode == 10953011u);
  BOOST_TEST(lib->end - lib->start == 8192u);

  auto trail = find_path(v, "/tmp/dir with space/trail ");  // the trailing space is the file's
  BOOST_TEST_REQUIRE(trail);
  BOOST_TEST(!trail->deleted);
  BOOST_TEST((trail->shared && trail->write));

  // The kernel shows '\n' in a path as "\012" without escaping '\\': kept as shown.
  BOOST_TEST(find_path(v, "/tmp/dir with space/nl\\012x"));

  auto zero = find_path(v, "/dev/zero");
  BOOST_TEST_REQUIRE(zero);
  BOOST_TEST((zero->deleted && zero->shared && zero->write));
  BOOST_TEST(zero->dev_major == 0u);
  BOOST_TEST(zero->dev_minor == 1u);
  BOOST_TEST(zero->inode == 1025u);

  auto memfd = find_path(v, "/memfd:name");
  BOOST_TEST_REQUIRE(memfd);
  BOOST_TEST((memfd->deleted && memfd->shared && !memfd->write));

  auto sysv = find_path(v, "/SYSV00000000");
  BOOST_TEST_REQUIRE(sysv);
  BOOST_TEST((sysv->deleted && sysv->shared));
  BOOST_TEST(sysv->inode == 0u);

  BOOST_TEST(v[0].path == "/tmp/ckfix/odd");
  BOOST_TEST(v[0].start == 0x400000u);
}

// This kernel lacks CONFIG_ANON_VMA_NAME, so these lines follow show_map_vma() by hand.
BOOST_AUTO_TEST_CASE(anon_names) {
  auto v = proc::parse_maps(
      "7fd192cd6000-7fd192cd8000 rw-p 00000000 00:00 0                          [anon:some name]\n"
      "7fd192cd8000-7fd192cd9000 rw-s 00000000 00:01 77                         [anon_shmem:x y]\n");
  BOOST_TEST_REQUIRE(v.size() == 2u);
  BOOST_TEST(v[0].path == "[anon:some name]");
  BOOST_TEST(!v[0].deleted);
  BOOST_TEST(v[1].path == "[anon_shmem:x y]");
}

// With a long inode the header passes the padding column: one space before the path.
BOOST_AUTO_TEST_CASE(no_padding_and_no_trailing_newline) {
  auto v = proc::parse_maps(
      "ffffffffff600000-ffffffffff601000 r-xs ffffffffffff0000 fff:fffff 18446744073709551615 /a b");
  BOOST_TEST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].path == "/a b");
  BOOST_TEST(v[0].inode == 18446744073709551615u);
  BOOST_TEST(v[0].offset == 0xffffffffffff0000u);
  BOOST_TEST(v[0].dev_major == 0xfffu);
  BOOST_TEST(v[0].dev_minor == 0xfffffu);
  BOOST_TEST(proc::parse_maps("").empty());  // kernel threads have no mappings
}

BOOST_AUTO_TEST_CASE(deleted_alone_is_stripped_once) {
  auto v = proc::parse_maps("1000-2000 r--p 00000000 00:00 5 /x (deleted) (deleted)\n");
  BOOST_TEST(v[0].path == "/x (deleted)");
  BOOST_TEST(v[0].deleted);
}

BOOST_AUTO_TEST_CASE(error_names_file_and_line) {
  std::string good = "1000-2000 r--p 00000000 00:00 0\n";
  BOOST_TEST(error_of([&] { proc::parse_maps(good + "zz-10 r--p 00000000 00:00 0\n"); }) ==
             "maps line 2: bad address range 'zz-10'");
  BOOST_TEST(error_of([&] { proc::parse_maps(good + good + "1000-2000 r--q 0 00:00 0", "/proc/7/maps"); }) ==
             "/proc/7/maps line 3: bad permissions 'r--q'");
}

BOOST_AUTO_TEST_CASE(malformed_lines) {
  const char* bad[] = {
      "garbage",
      "\n",
      "1000-2000",
      "1000-2000 ",
      "1000-2000 r--p",
      "1000-2000 r--p 00000000",
      "1000-2000 r--p 00000000 00:00",
      "1000-2000 r--p 00000000 0000 0",
      "1000-2000 r--p 00000000 00: 0",
      "1000-2000 r--p 0000zz00 00:00 0",
      "1000-2000 r--p 00000000 00:00 -1",
      "1000-2000 r--p 00000000 00:00 12x /path",
      "1000-2000 rwxpp 00000000 00:00 0",
      "1000-2000 r-- 00000000 00:00 0",
      "1000-2000  r--p 00000000 00:00 0",  // two blanks: an empty field
      "2000-1000 r--p 00000000 00:00 0",   // end before start
      "1000-1000 r--p 00000000 00:00 0",
      "-2000 r--p 00000000 00:00 0",
      "1000- r--p 00000000 00:00 0",
      "0x1000-0x2000 r--p 00000000 00:00 0",
      "+1000-2000 r--p 00000000 00:00 0",
      "10000000000000000-10000000000000001 r--p 00000000 00:00 0",  // 65 bits
      "1000-2000 r--p 10000000000000000 00:00 0",
      "1000-2000 r--p 00000000 100000000:00 0",
      "1000-2000 r--p 00000000 00:00 18446744073709551616",
  };
  for (const char* line : bad) {
    auto msg = error_of([&] { proc::parse_maps(line); });
    BOOST_TEST(msg.rfind("maps line 1: ", 0) == 0u, "for '" << line << "': " << msg);
  }
}

BOOST_AUTO_TEST_CASE(ten_thousand_lines) {
  constexpr size_t n = 10000;
  std::string text;
  text.reserve(n * 110);
  char buf[256];
  for (size_t i = 0; i < n; ++i) {
    uint64_t start = 0x7f0000000000 + i * 0x3000;
    const char* perms[] = {"r--p", "rw-p", "r-xp", "rw-s"};
    int len;
    if (i % 3 == 0)
      len = std::snprintf(buf, sizeof buf, "%lx-%lx %s %08lx fe:00 %zu                   /usr/lib/lib %zu.so%s\n",
                          static_cast<unsigned long>(start), static_cast<unsigned long>(start + 0x2000),
                          perms[i % 4], static_cast<unsigned long>(i * 0x1000), 1000 + i, i,
                          i % 2 ? " (deleted)" : "");
    else
      len = std::snprintf(buf, sizeof buf, "%lx-%lx %s 00000000 00:00 0 \n", static_cast<unsigned long>(start),
                          static_cast<unsigned long>(start + 0x1000), perms[i % 4]);
    text.append(buf, static_cast<size_t>(len));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto v = proc::parse_maps(text);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST_MESSAGE("10000 maps lines in " << ms << " ms");
  BOOST_TEST(ms < 2000);
  BOOST_TEST_REQUIRE(v.size() == n);
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t start = 0x7f0000000000 + i * 0x3000;
    const auto& e = v[i];
    bool ok = e.start == start && e.write == (i % 4 == 1 || i % 4 == 3) && e.shared == (i % 4 == 3);
    if (i % 3 == 0)
      ok = ok && e.end == start + 0x2000 && e.offset == i * 0x1000 && e.inode == 1000 + i &&
           e.path == "/usr/lib/lib " + std::to_string(i) + ".so" && e.deleted == (i % 2 == 1) && e.dev_major == 0xfe;
    else
      ok = ok && e.end == start + 0x1000 && e.path.empty() && !e.deleted && e.inode == 0;
    bad += !ok;
  }
  BOOST_TEST(bad == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(smaps_file)

BOOST_AUTO_TEST_CASE(odd_process) {
  auto v = proc::parse_smaps(fixture("smaps_odd.txt"));
  auto m = proc::parse_maps(fixture("maps_odd.txt"));  // captured from the same stopped process
  BOOST_TEST_REQUIRE(v.size() == m.size());
  for (size_t i = 0; i < v.size(); ++i) {
    BOOST_TEST(v[i].start == m[i].start);
    BOOST_TEST(v[i].path == m[i].path);
    BOOST_TEST(v[i].deleted == m[i].deleted);
    BOOST_TEST(!v[i].vmflags.empty());
  }
  auto heap = find_path(v, "[heap]");
  BOOST_TEST_REQUIRE(heap);
  BOOST_TEST(heap->rss_kb == 12u);
  BOOST_TEST(heap->anonymous_kb == 12u);
  BOOST_TEST(heap->swap_kb == 0u);
  BOOST_TEST((heap->vmflags == std::vector<std::string>{"rd", "wr", "mr", "mw", "me", "ac"}));

  auto zero = find_path(v, "/dev/zero");
  BOOST_TEST_REQUIRE(zero);
  BOOST_TEST(zero->rss_kb == 4u);
  BOOST_TEST(zero->anonymous_kb == 0u);  // shmem pages do not count as Anonymous
  BOOST_TEST((has_flag(*zero, "sh") && has_flag(*zero, "ms")));

  auto vclock = find_path(v, "[vvar_vclock]");
  BOOST_TEST_REQUIRE(vclock);
  BOOST_TEST((vclock->vmflags == std::vector<std::string>{"rd", "mr", "pf", "io", "de", "dd"}));

  auto vsys = find_path(v, "[vsyscall]");
  BOOST_TEST_REQUIRE(vsys);
  BOOST_TEST((vsys->vmflags == std::vector<std::string>{"ex"}));

  auto lib = find_path(v, "/tmp/dir with space/lib (x).so");
  BOOST_TEST_REQUIRE(lib);
  BOOST_TEST(lib->deleted);
  BOOST_TEST(has_flag(*lib, "ex"));
}

BOOST_AUTO_TEST_CASE(python) {
  auto v = proc::parse_smaps(fixture("smaps_python.txt"), "/proc/1/smaps");
  BOOST_TEST_REQUIRE(v.size() == 44u);
  BOOST_TEST(std::count_if(v.begin(), v.end(), [](auto& e) { return e.path == "/usr/lib/x86_64-linux-gnu/libc.so.6"; }) == 5);
  // The 3 MiB bytearray lives in an unnamed anonymous mapping.
  auto big = std::find_if(v.begin(), v.end(), [](auto& e) { return e.path.empty() && e.anonymous_kb >= 3072; });
  BOOST_TEST_REQUIRE((big != v.end()));
  BOOST_TEST(big->start == 0x7f2767cbe000u);
  BOOST_TEST(big->rss_kb == 3820u);
  BOOST_TEST(big->anonymous_kb == 3820u);
  for (const auto& e : v) {
    BOOST_TEST(e.anonymous_kb <= e.rss_kb);
    BOOST_TEST(e.swap_kb == 0u);
  }
}

BOOST_AUTO_TEST_CASE(swap_and_vmflags_replace) {
  auto v = proc::parse_smaps(
      "1000-3000 rw-p 00000000 00:00 0 \n"
      "Rss:                   4 kB\n"
      "Swap:                  4 kB\n"
      "VmFlags: rd wr \n"
      "VmFlags: rd \n"
      "SomeFutureKey:  whatever it says\n"
      "ProtectionKey:         0\n");
  BOOST_TEST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].swap_kb == 4u);
  BOOST_TEST((v[0].vmflags == std::vector<std::string>{"rd"}));
  BOOST_TEST(proc::parse_smaps("").empty());
}

BOOST_AUTO_TEST_CASE(malformed) {
  const std::string header = "1000-2000 rw-p 00000000 00:00 0 \n";
  BOOST_TEST(error_of([&] { proc::parse_smaps("Rss:  4 kB\n" + header); }) ==
             "smaps line 1: detail line before any mapping: 'Rss:  4 kB'");
  BOOST_TEST(error_of([&] { proc::parse_smaps(header + "Rss:  x kB\n"); }) == "smaps line 2: bad size 'x'");
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "Rss:  4 MB\n"); }), "smaps line 2: bad Rss value"));
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "Anonymous:\n"); }), "smaps line 2"));
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "Swap: 4 kB kB\n"); }), "smaps line 2"));
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "Rss: 99999999999999999999 kB\n"); }),
                      "smaps line 2"));
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "Rss 4 kB\n"); }), "smaps line 2"));
  BOOST_TEST(contains(error_of([&] { proc::parse_smaps(header + "1000-20"); }), "smaps line 2"));
}

BOOST_AUTO_TEST_CASE(ten_thousand_entries) {
  // Real entry text repeated with new addresses: 10 000 entries, about 250 000 lines.
  std::string entry_body;
  {
    std::string one = fixture("smaps_odd.txt");
    size_t first_nl = one.find('\n');
    size_t next_header = one.find("\n00401000-");
    entry_body = one.substr(first_nl + 1, next_header - first_nl);
  }
  std::string text;
  char buf[160];
  for (uint64_t i = 0; i < 10000; ++i) {
    int len = std::snprintf(buf, sizeof buf, "%lx-%lx rw-p 00000000 00:00 0                          [anon:n %lu]\n",
                            static_cast<unsigned long>(0x10000 + i * 0x2000),
                            static_cast<unsigned long>(0x11000 + i * 0x2000), static_cast<unsigned long>(i));
    text.append(buf, static_cast<size_t>(len));
    text += entry_body;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto v = proc::parse_smaps(text);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST_MESSAGE("10000 smaps entries (" << text.size() / 1024 << " KiB) in " << ms << " ms");
  BOOST_TEST(ms < 2000);
  BOOST_TEST_REQUIRE(v.size() == 10000u);
  BOOST_TEST(v[9999].path == "[anon:n 9999]");
  BOOST_TEST(v[9999].start == 0x10000u + 9999u * 0x2000u);
  BOOST_TEST((v[9999].vmflags == v[0].vmflags));
  BOOST_TEST(v[0].rss_kb == 4u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(status_file)

BOOST_AUTO_TEST_CASE(odd_process) {
  auto s = proc::parse_status(fixture("status_odd.txt"));
  BOOST_TEST(s.name == "a b) (c");
  BOOST_TEST(s.state == 'S');
  BOOST_TEST(s.tgid == 4207);
  BOOST_TEST(s.pid == 4207);
  BOOST_TEST(s.ppid == 1);
  BOOST_TEST(s.tracer_pid == 0);
  BOOST_TEST(s.umask == 027u);
  BOOST_TEST((s.groups == std::vector<uint32_t>{10, 20, 30}));
  BOOST_TEST((s.nstgid == std::vector<pid_t>{4207}));
  BOOST_TEST((s.nspgid == std::vector<pid_t>{4198}));
  BOOST_TEST((s.nssid == std::vector<pid_t>{2439}));
  BOOST_TEST(s.threads == 1);
  BOOST_TEST(s.sig_pnd == (1u << (SIGUSR1 - 1)));
  BOOST_TEST(s.shd_pnd == 0u);
  BOOST_TEST(s.sig_blk == ((1u << (SIGUSR1 - 1)) | (1u << (SIGUSR2 - 1))));
  BOOST_TEST((s.sig_ign & (1u << (SIGPIPE - 1))) != 0u);
  BOOST_TEST(s.sig_cgt == (1u << (SIGTERM - 1)));
  BOOST_TEST(s.cap_prm == 0x000001fffeffffffu);
  BOOST_TEST(s.cap_eff == 0x000001fffeffffffu);
  BOOST_TEST(s.cap_bnd == 0x000001fffeffffffu);
  BOOST_TEST(s.cap_inh == 0u);
  BOOST_TEST(s.cap_amb == 0u);
  BOOST_TEST(s.no_new_privs);
  BOOST_TEST(s.seccomp == 2);
  BOOST_TEST(s.seccomp_filters == 2);
  for (auto id : s.uid) BOOST_TEST(id == 0u);
}

BOOST_AUTO_TEST_CASE(child_with_ids_and_escaped_name) {
  auto s = proc::parse_status(fixture("status_child.txt"));
  BOOST_TEST(s.name == "tab\tnl\nbs\\)");  // shown as "tab<TAB>nl\nbs\\)"
  BOOST_TEST((std::vector<uint32_t>(s.uid, s.uid + 4) == std::vector<uint32_t>{1000, 1001, 1002, 1001}));
  BOOST_TEST((std::vector<uint32_t>(s.gid, s.gid + 4) == std::vector<uint32_t>{100, 101, 102, 101}));
  BOOST_TEST(s.ppid == 4207);
  BOOST_TEST(s.cap_eff == 0u);  // dropped by setresuid
}

BOOST_AUTO_TEST_CASE(zombie_has_no_umask) {
  auto s = proc::parse_status(fixture("status_zombie.txt"));
  BOOST_TEST(s.state == 'Z');
  BOOST_TEST(s.pid == 4210);
  BOOST_TEST(s.umask == 022u);  // the default: zombies have no Umask line
  BOOST_TEST(s.seccomp == 0);
}

BOOST_AUTO_TEST_CASE(kernel_thread) {
  auto s = proc::parse_status(fixture("status_kthread.txt"));
  BOOST_TEST(s.name == "kthreadd");
  BOOST_TEST(s.pid == 2);
  BOOST_TEST(s.ppid == 0);
  BOOST_TEST(s.groups.empty());  // "Groups:\t " with a lone blank
  BOOST_TEST(s.sig_ign == ~uint64_t{0});
  BOOST_TEST(s.cap_eff == 0x000001ffffffffffu);
}

BOOST_AUTO_TEST_CASE(nested_pid_namespace) {
  auto s = proc::parse_status(fixture("status_pidns.txt"));
  BOOST_TEST((s.nstgid == std::vector<pid_t>{4340, 2}));
  BOOST_TEST((s.nspid == std::vector<pid_t>{4340, 2}));
  BOOST_TEST((s.nspgid == std::vector<pid_t>{4317, 0}));
  BOOST_TEST((s.nssid == std::vector<pid_t>{2439, 0}));
}

BOOST_AUTO_TEST_CASE(cat_self) {
  auto s = proc::parse_status(fixture("status_cat.txt"));
  BOOST_TEST(s.name == "cat");
  BOOST_TEST(s.state == 'R');
  BOOST_TEST(s.umask == 022u);
  BOOST_TEST(s.groups.empty());
}

BOOST_AUTO_TEST_CASE(name_keeps_blanks_and_colons) {
  const std::string rest = "State:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
  BOOST_TEST(proc::parse_status("Name:\t  a:b \n" + rest).name == "  a:b ");
  BOOST_TEST(proc::parse_status("Name:\t\n" + rest).name == "");
  BOOST_TEST(proc::parse_status("Name:\t\\\\n\n" + rest).name == "\\n");
}

BOOST_AUTO_TEST_CASE(malformed) {
  const std::string base = fixture("status_odd.txt");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    size_t at = s.find(from);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  BOOST_TEST(error_of([] { proc::parse_status(""); }) == "status: no 'Name:' line");
  BOOST_TEST(error_of([&] { proc::parse_status(replace("Pid:\t4207\n", ""), "/proc/4207/status"); }) ==
             "/proc/4207/status: no 'Pid:' line");
  BOOST_TEST(error_of([&] { proc::parse_status(replace("Uid:\t0\t0\t0\t0", "Uid:\t0\t0")); }) ==
             "status line 9: Uid needs 4 values, got '0\\x090'");
  BOOST_TEST(error_of([&] { proc::parse_status(replace("SigBlk:\t0000000000000a00", "SigBlk:\t00000000000zza00")); }) ==
             "status line 41: bad SigBlk '00000000000zza00'");
  const std::pair<const char*, const char*> bad[] = {
      {"Uid:\t0\t0\t0\t0", "Uid:\t0\t0\t0\t0\t0"},
      {"Uid:\t0\t0\t0\t0", "Uid:\t0\t0\t0\t4294967296"},
      {"Umask:\t0027", "Umask:\t0099"},
      {"Umask:\t0027", "Umask:\t01777"},
      {"Pid:\t4207", "Pid:\t99999999999999999999"},
      {"Pid:\t4207", "Pid:\t"},
      {"Tgid:\t4207", "Tgid:\t-"},
      {"Groups:\t10 20 30 ", "Groups:\t10 x 30 "},
      {"NSpid:\t4207", "NSpid:\t4207 -"},
      {"CapEff:\t000001fffeffffff", "CapEff:\t1000001fffeffffff0"},
      {"SigPnd:\t0000000000000200", "SigPnd:\t0x200"},
      {"NoNewPrivs:\t1", "NoNewPrivs:\t2"},
      {"Seccomp:\t2", "Seccomp:\t3"},
      {"Threads:\t1", "Threads:\tone"},
      {"State:\tS (sleeping)", "State:\t"},
      {"Name:\ta b) (c", "Name:\ta\\qb"},
      {"Name:\ta b) (c", "Name:\tab\\"},
      {"Ngid:\t0\n", "no colon here\n"},
  };
  for (auto [from, to] : bad) {
    auto msg = error_of([&] { proc::parse_status(replace(from, to)); });
    BOOST_TEST(msg.rfind("status line ", 0) == 0u, to << ": " << msg);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(stat_file)

BOOST_AUTO_TEST_CASE(odd_process) {
  auto s = proc::parse_stat(fixture("stat_odd.txt"));
  BOOST_TEST(s.pid == 4207);
  BOOST_TEST(s.comm == "a b) (c");
  BOOST_TEST(s.state == 'S');
  BOOST_TEST(s.ppid == 1);
  BOOST_TEST(s.pgrp == 4198);
  BOOST_TEST(s.session == 2439);
  BOOST_TEST(s.tty_nr == 0);
  BOOST_TEST(s.flags == 4194560u);
  BOOST_TEST(s.num_threads == 1);
  BOOST_TEST(s.starttime == 59171u);
  BOOST_TEST(s.startcode == 4198400u);  // 0x401000: the r-x mapping of the static binary
  BOOST_TEST(s.endcode == 4698849u);
  BOOST_TEST(s.startstack == 140723263607424u);
  BOOST_TEST(s.exit_signal == SIGCHLD);
  BOOST_TEST(s.start_data == 4867736u);
  BOOST_TEST(s.end_data == 4891280u);
  BOOST_TEST(s.start_brk == 358535168u);  // 0x155ed000, the [heap] start
  BOOST_TEST(s.arg_start == 140723263613402u);
  BOOST_TEST(s.arg_end == 140723263613408u);
  BOOST_TEST(s.env_start == 140723263613408u);
  BOOST_TEST(s.env_end == 140723263614962u);
  BOOST_TEST(s.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(comm_with_tab_newline_and_paren) {
  auto s = proc::parse_stat(fixture("stat_child.txt"));
  BOOST_TEST(s.pid == 4209);
  BOOST_TEST(s.comm == "tab\tnl\nbs\\)");  // stat prints comm raw
  BOOST_TEST(s.ppid == 4207);
  BOOST_TEST(s.state == 'S');
}

BOOST_AUTO_TEST_CASE(zombie_exit_code) {
  auto s = proc::parse_stat(fixture("stat_zombie.txt"));
  BOOST_TEST(s.state == 'Z');
  BOOST_TEST(s.exit_code == (3 << 8));  // _exit(3), as wait() reports it
  BOOST_TEST(s.startcode == 0u);
  BOOST_TEST(s.arg_start == 0u);
}

BOOST_AUTO_TEST_CASE(kernel_thread) {
  auto s = proc::parse_stat(fixture("stat_kthread.txt"));
  BOOST_TEST(s.pid == 2);
  BOOST_TEST(s.comm == "kthreadd");
  BOOST_TEST(s.ppid == 0);
  BOOST_TEST(s.exit_signal == 0);
}

BOOST_AUTO_TEST_CASE(negative_and_extra_fields) {
  std::string tail;
  for (int n = 4; n <= 52; ++n) {
    tail += ' ';
    tail += std::to_string(n == 8 ? -1 : n == 19 ? -20 : n);
  }
  auto s = proc::parse_stat("7 (x) R" + tail + " 53 54\n");
  BOOST_TEST(s.ppid == 4);
  BOOST_TEST(s.exit_code == 52);
  BOOST_TEST(s.env_end == 51u);
  BOOST_TEST(proc::parse_stat("7 (x) R" + tail).exit_code == 52);  // no final newline
  BOOST_TEST(proc::parse_stat("7 () R" + tail).comm == "");
}

BOOST_AUTO_TEST_CASE(malformed) {
  const std::string good = fixture("stat_odd.txt");
  BOOST_TEST(contains(error_of([] { proc::parse_stat(""); }), "stat line 1: no '(comm)'"));
  BOOST_TEST(contains(error_of([] { proc::parse_stat("12 (abc"); }), "stat line 1"));
  BOOST_TEST(contains(error_of([] { proc::parse_stat("12 abc) S"); }), "stat line 1"));
  BOOST_TEST(contains(error_of([] { proc::parse_stat(") 12 (abc"); }), "stat line 1"));
  BOOST_TEST(contains(error_of([] { proc::parse_stat("(abc) S 1"); }), "bad pid"));
  BOOST_TEST(contains(error_of([] { proc::parse_stat("x (abc) S 1"); }), "bad pid"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(good.substr(0, good.size() / 2), "/proc/9/stat"); }),
                      "/proc/9/stat line 1: truncated"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(good.substr(0, good.rfind(' '))); }), "truncated"));
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    return s.replace(s.find(from), from.size(), to);
  };
  BOOST_TEST(error_of([&] { proc::parse_stat(replace(" 4198 ", " 4x98 ")); }) == "stat line 1: bad pgrp '4x98'");
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(replace(" 4198 ", "  4198 ")); }), "bad"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(replace(" S ", " SS ")); }), "bad state"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(replace(" 59171 ", " 99999999999999999999 ")); }),
                      "bad starttime"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(replace(" 1069056 ", " 10z9056 ")); }), "bad field 23"));
  BOOST_TEST(contains(error_of([&] { proc::parse_stat(replace("4207 (", "4207(")); }), "bad pid"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(fdinfo_file)

BOOST_AUTO_TEST_CASE(regular_file_with_lock) {
  auto f = proc::parse_fdinfo(fixture("fdinfo_file.txt"));
  BOOST_TEST(f.pos == 6u);
  BOOST_TEST(f.flags == static_cast<uint32_t>(O_RDWR | O_APPEND | O_CLOEXEC | 0100000 /* O_LARGEFILE, set by the kernel */));
  BOOST_TEST(f.mnt_id == 27);
  BOOST_TEST(f.ino == 10953012u);
  BOOST_TEST(f.extra.empty());
  BOOST_TEST_REQUIRE(f.extra_lines.size() == 1u);
  BOOST_TEST(f.extra_lines[0] == "lock:\t1: POSIX  ADVISORY  WRITE 4207 fe:00:10953012 0 EOF");
}

BOOST_AUTO_TEST_CASE(pipe_ends) {
  auto r = proc::parse_fdinfo(fixture("fdinfo_pipe_r.txt"));
  auto w = proc::parse_fdinfo(fixture("fdinfo_pipe_w.txt"));
  BOOST_TEST(r.flags == static_cast<uint32_t>(O_RDONLY | O_NONBLOCK));
  BOOST_TEST(w.flags == static_cast<uint32_t>(O_WRONLY | O_NONBLOCK));
  BOOST_TEST(r.ino == 8367u);
  BOOST_TEST(r.ino == w.ino);
  BOOST_TEST(r.mnt_id == 16);
  BOOST_TEST((r.extra.empty() && r.extra_lines.empty()));
}

BOOST_AUTO_TEST_CASE(eventfd) {
  auto f = proc::parse_fdinfo(fixture("fdinfo_eventfd.txt"));
  BOOST_TEST(f.flags == static_cast<uint32_t>(O_RDWR | O_CLOEXEC));
  BOOST_TEST(f.extra.size() == 3u);
  BOOST_TEST(f.extra["eventfd-count"] == "5");
  BOOST_TEST(f.extra["eventfd-id"] == "1");
  BOOST_TEST(f.extra["eventfd-semaphore"] == "0");
  BOOST_TEST(f.extra_lines.empty());
}

BOOST_AUTO_TEST_CASE(epoll) {
  auto f = proc::parse_fdinfo(fixture("fdinfo_epoll.txt"));
  BOOST_TEST(f.extra.empty());
  BOOST_TEST_REQUIRE(f.extra_lines.size() == 2u);
  BOOST_TEST(f.extra_lines[0] == "tfd:        6 events:       1d data:             1234  pos:0 ino:1a sdev:10");
  BOOST_TEST(f.extra_lines[1].rfind("tfd:        4 events:       19 data:                7", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(inotify) {
  auto f = proc::parse_fdinfo(fixture("fdinfo_inotify.txt"));
  BOOST_TEST(f.flags == static_cast<uint32_t>(O_NONBLOCK));
  BOOST_TEST_REQUIRE(f.extra_lines.size() == 1u);
  BOOST_TEST(f.extra_lines[0].rfind("inotify wd:1 ino:3c51a sdev:fe00000 mask:300 ", 0) == 0u);
  BOOST_TEST(f.extra.empty());
}

BOOST_AUTO_TEST_CASE(timerfd) {
  auto f = proc::parse_fdinfo(fixture("fdinfo_timerfd.txt"));
  BOOST_TEST(f.extra["clockid"] == "1");
  BOOST_TEST(f.extra["ticks"] == "0");
  BOOST_TEST(f.extra["it_value"] == "(88, 52412726)");
  BOOST_TEST(f.extra["it_interval"] == "(1, 0)");
  BOOST_TEST((f.extra_lines == std::vector<std::string>{"settime flags: 00"}));  // a key with a blank
}

BOOST_AUTO_TEST_CASE(signalfd_and_pidfd) {
  auto s = proc::parse_fdinfo(fixture("fdinfo_signalfd.txt"));
  BOOST_TEST(s.extra["sigmask"] == "0000000000000800");
  auto p = proc::parse_fdinfo(fixture("fdinfo_pidfd.txt"));
  BOOST_TEST(p.extra["Pid"] == "4209");
  BOOST_TEST(p.extra["NSpid"] == "4209");
  BOOST_TEST(p.mnt_id == 4);
}

BOOST_AUTO_TEST_CASE(line_shapes) {
  auto f = proc::parse_fdinfo(
      "pos:\t0\nflags:\t02\n"
      "drm-pdev:\t0000:00:02.0\n"      // colons inside a value
      "fanotify flags:0 event-flags:0\n"
      "key:\n"                          // empty value
      "a: b: c\n"                       // two labels
      "no colon at all\n"
      "\n");
  BOOST_TEST(f.extra["drm-pdev"] == "0000:00:02.0");
  BOOST_TEST(f.extra["key"] == "");
  BOOST_TEST((f.extra_lines == std::vector<std::string>{"fanotify flags:0 event-flags:0", "a: b: c", "no colon at all"}));
  BOOST_TEST(f.mnt_id == -1);  // absent: left at its default
}

BOOST_AUTO_TEST_CASE(malformed) {
  BOOST_TEST(error_of([] { proc::parse_fdinfo(""); }) == "fdinfo: no 'pos:' line");
  BOOST_TEST(error_of([] { proc::parse_fdinfo("pos:\t0\n", "fdinfo/3"); }) == "fdinfo/3: no 'flags:' line");
  BOOST_TEST(error_of([] { proc::parse_fdinfo("pos:\tabc\nflags:\t02\n"); }) == "fdinfo line 1: bad pos 'abc'");
  BOOST_TEST(error_of([] { proc::parse_fdinfo("pos:\t0\nflags:\t0999\n"); }) == "fdinfo line 2: bad flags '0999'");
  BOOST_TEST(contains(error_of([] { proc::parse_fdinfo("pos:\t0\nflags:\t077777777777\n"); }), "bad flags"));
  BOOST_TEST(contains(error_of([] { proc::parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t-\n"); }), "bad mnt_id"));
  BOOST_TEST(contains(error_of([] { proc::parse_fdinfo("pos:\t-1\nflags:\t02\n"); }), "bad pos"));
  BOOST_TEST(contains(error_of([] { proc::parse_fdinfo("pos:\t0\nflags:\t02\nino:\t1 2\n"); }), "bad ino"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(event_fdinfo)

BOOST_AUTO_TEST_CASE(eventfd) {
  auto e = proc::parse_eventfd_fdinfo(fixture("fdinfo_eventfd.txt"));
  BOOST_TEST(e.count == 5u);
  BOOST_TEST(!e.semaphore);
  // The count is hexadecimal (fs/eventfd.c prints "%16llx").
  auto big = proc::parse_eventfd_fdinfo("pos:\t0\nflags:\t02\neventfd-count:   fffffffffffffffe\neventfd-semaphore: 1\n");
  BOOST_TEST(big.count == 0xfffffffffffffffeull);
  BOOST_TEST(big.semaphore);
  BOOST_TEST(error_of([] { proc::parse_eventfd_fdinfo(fixture("fdinfo_pipe_r.txt"), "fdinfo/4"); }) ==
             "fdinfo/4: no 'eventfd-count:' line");
}

BOOST_AUTO_TEST_CASE(timerfd) {
  auto t = proc::parse_timerfd_fdinfo(fixture("fdinfo_timerfd.txt"));
  BOOST_TEST(t.clockid == 1);
  BOOST_TEST(t.ticks == 0u);
  BOOST_TEST(t.settime_flags == 0u);
  BOOST_TEST(t.value_ns == 88052412726ll);
  BOOST_TEST(t.interval_ns == 1000000000ll);
  auto a = proc::parse_timerfd_fdinfo(fixture("fdinfo_timerfd_abs.txt"));
  BOOST_TEST(a.clockid == 0);
  BOOST_TEST(a.settime_flags == 1u);  // TFD_TIMER_ABSTIME
  BOOST_TEST(a.value_ns == 99603093724ll);
  BOOST_TEST(contains(error_of([] { proc::parse_timerfd_fdinfo(fixture("fdinfo_eventfd.txt")); }), "not a timerfd"));
  BOOST_TEST(contains(error_of([] {
               proc::parse_timerfd_fdinfo("pos:\t0\nflags:\t02\nclockid: 1\nticks: 0\nsettime flags: 0\n"
                                          "it_value: (1, 2000000000)\nit_interval: (0, 0)\n");
             }),
             "line 6: it_value out of range"));
  BOOST_TEST(contains(error_of([] {
               proc::parse_timerfd_fdinfo("pos:\t0\nflags:\t02\nclockid: 1\nticks: 0\nsettime flags: 0\n"
                                          "it_value: 5\nit_interval: (0, 0)\n");
             }),
             "bad it_value"));
}

BOOST_AUTO_TEST_CASE(signalfd) {
  BOOST_TEST(proc::parse_signalfd_fdinfo(fixture("fdinfo_signalfd.txt")) == 0x800u);  // SIGUSR2
  BOOST_TEST(contains(error_of([] { proc::parse_signalfd_fdinfo(fixture("fdinfo_file.txt")); }), "no 'sigmask:'"));
}

BOOST_AUTO_TEST_CASE(epoll) {
  auto v = proc::parse_epoll_fdinfo(fixture("fdinfo_epoll.txt"));
  BOOST_TEST_REQUIRE(v.size() == 2u);
  BOOST_TEST(v[0].tfd == 6);
  BOOST_TEST(v[0].events == 0x1du);
  BOOST_TEST(v[0].data == 0x1234u);
  BOOST_TEST(v[0].ino == 0x1au);
  BOOST_TEST(v[0].sdev == 0x10u);
  BOOST_TEST(v[1].tfd == 4);
  BOOST_TEST(v[1].events == 0x19u);
  BOOST_TEST(v[1].data == 7u);
  BOOST_TEST(v[1].ino == 0x20afu);
  BOOST_TEST(proc::parse_epoll_fdinfo(fixture("fdinfo_eventfd.txt")).empty());
  BOOST_TEST(error_of([] { proc::parse_epoll_fdinfo("pos:\t0\nflags:\t02\ntfd: 3 events: 1 data:\n"); }) ==
             "fdinfo line 3: no value after 'data'");
  BOOST_TEST(contains(error_of([] { proc::parse_epoll_fdinfo("pos:\t0\nflags:\t02\ntfd: 3 events: 1\n"); }),
                      "line 3: no 'data:'"));
  BOOST_TEST(contains(error_of([] {
               proc::parse_epoll_fdinfo("pos:\t0\nflags:\t02\ntfd: x events: 1 data: 0 pos:0 ino:1 sdev:2\n");
             }),
             "bad tfd 'x'"));
}

BOOST_AUTO_TEST_CASE(inotify) {
  auto one = proc::parse_inotify_fdinfo(fixture("fdinfo_inotify.txt"));
  BOOST_TEST_REQUIRE(one.size() == 1u);
  BOOST_TEST(one[0].wd == 1);
  BOOST_TEST(one[0].ino == 0x3c51au);
  BOOST_TEST(one[0].sdev == 0xfe00000u);
  BOOST_TEST(one[0].mask == 0x300u);
  BOOST_TEST(one[0].fhandle_type == 1);
  BOOST_TEST(one[0].fhandle.size() == 8u);
  BOOST_TEST(one[0].fhandle[0] == 0x1au);
  // The kernel lists the newest watch first; the parser returns them in wd order.
  auto two = proc::parse_inotify_fdinfo(fixture("fdinfo_inotify2.txt"));
  BOOST_TEST_REQUIRE(two.size() == 2u);
  BOOST_TEST(two[0].wd == 1);
  BOOST_TEST(two[0].mask == 0x80000100u);  // IN_ONESHOT | IN_CREATE
  BOOST_TEST(two[1].wd == 2);
  BOOST_TEST(two[1].mask == 0x4000002u);   // IN_EXCL_UNLINK | IN_MODIFY
  BOOST_TEST(two[1].ino == 0x6401bu);
  // Every number of the line is hexadecimal, the wd too (fs/notify/fdinfo.c "wd:%x").
  auto hex = proc::parse_inotify_fdinfo("pos:\t0\nflags:\t0\ninotify wd:186a1 ino:3c51a sdev:fe00000 mask:100 "
                                        "ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1ac5030000000000\n");
  BOOST_TEST_REQUIRE(hex.size() == 1u);
  BOOST_TEST(hex[0].wd == 100001);
  BOOST_TEST(contains(error_of([] { proc::parse_inotify_fdinfo("pos:\t0\nflags:\t0\ninotify wd:1 ino:2\n"); }),
                      "line 3: no 'sdev:'"));
  BOOST_TEST(contains(error_of([] {
               proc::parse_inotify_fdinfo("pos:\t0\nflags:\t0\ninotify wd:0 ino:2 sdev:1 mask:1 ignored_mask:0\n");
             }),
             "bad wd"));
}

BOOST_AUTO_TEST_CASE(pidfd) {
  auto p = proc::parse_pidfd_fdinfo(fixture("fdinfo_pidfd.txt"));
  BOOST_TEST(p.pid == 4209);
  BOOST_TEST_REQUIRE(p.nspid.size() == 1u);
  BOOST_TEST(p.nspid[0] == 4209);
  auto gone = proc::parse_pidfd_fdinfo("pos:\t0\nflags:\t02000002\nmnt_id:\t4\nino:\t4210\nPid:\t-1\n");
  BOOST_TEST(gone.pid == -1);
  BOOST_TEST(gone.nspid.empty());
  BOOST_TEST(contains(error_of([] { proc::parse_pidfd_fdinfo(fixture("fdinfo_eventfd.txt")); }), "no 'Pid:'"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(limits_file)

BOOST_AUTO_TEST_CASE(cat_defaults) {
  auto l = proc::parse_limits(fixture("limits_cat.txt"));
  BOOST_TEST_REQUIRE(l.size() == 16u);
  BOOST_TEST(l[RLIMIT_CPU].soft == RLIM_INFINITY);
  BOOST_TEST(l[RLIMIT_STACK].soft == 8388608u);
  BOOST_TEST(l[RLIMIT_STACK].hard == RLIM_INFINITY);
  BOOST_TEST(l[RLIMIT_CORE].soft == 0u);
  BOOST_TEST(l[RLIMIT_NPROC].soft == 96365u);
  BOOST_TEST(l[RLIMIT_NOFILE].soft == 20000u);
  BOOST_TEST(l[RLIMIT_MEMLOCK].hard == 8388608u);
  BOOST_TEST(l[RLIMIT_MSGQUEUE].soft == 819200u);
  BOOST_TEST(l[RLIMIT_NICE].soft == 0u);  // no unit column on this row
  BOOST_TEST(l[RLIMIT_RTPRIO].hard == 0u);
  BOOST_TEST(l[RLIMIT_RTTIME].hard == RLIM_INFINITY);
}

BOOST_AUTO_TEST_CASE(set_by_setrlimit) {
  auto l = proc::parse_limits(fixture("limits_odd.txt"));
  BOOST_TEST(l[RLIMIT_NOFILE].soft == 1234u);
  BOOST_TEST(l[RLIMIT_NOFILE].hard == 4321u);
  BOOST_TEST(l[RLIMIT_CORE].soft == 1048576u);
  BOOST_TEST(l[RLIMIT_CORE].hard == RLIM_INFINITY);
  BOOST_TEST(l[RLIMIT_LOCKS].soft == RLIM_INFINITY);
  BOOST_TEST(l[RLIMIT_SIGPENDING].soft == 96365u);
}

BOOST_AUTO_TEST_CASE(matches_getrlimit) {
  auto l = proc::parse_limits(proc::read_file("/proc/self/limits"));
  for (int r = 0; r < RLIM_NLIMITS; ++r) {
    rlimit want{};
    getrlimit(static_cast<__rlimit_resource_t>(r), &want);
    BOOST_TEST(l[r].soft == want.rlim_cur, "resource " << r);
    BOOST_TEST(l[r].hard == want.rlim_max, "resource " << r);
  }
}

BOOST_AUTO_TEST_CASE(malformed) {
  const std::string good = fixture("limits_cat.txt");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    return s.replace(s.find(from), from.size(), to);
  };
  BOOST_TEST(error_of([] { proc::parse_limits(""); }) == "limits: empty");
  BOOST_TEST(error_of([&] { proc::parse_limits(good.substr(0, good.find('\n') + 1)); }) ==
             "limits: no 'Max cpu time' row");
  // "Max realtime timeou" looks like a row of a newer kernel, so the real one is missing.
  BOOST_TEST(error_of([&] { proc::parse_limits(replace("Max realtime timeout", "Max realtime timeou")); }) ==
             "limits: no 'Max realtime timeout' row");
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("Max open files            20000",
                                                                "Max open files            2000x")); }),
                      "limits line 9: bad limit '2000x'"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("Limit ", "Limits")); }), "limits line 1: bad header"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("Max cpu time", "Min cpu time")); }), "line 2"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("Max file size ", "Max cpu time  ")); }), "duplicate"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(good.substr(0, good.size() - 40)); }), "limits line 17"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("seconds", "sec onds")); }), "trailing text"));
  BOOST_TEST(contains(error_of([&] { proc::parse_limits(replace("8388608 ", "-8388608")); }), "bad limit"));
  // A row a newer kernel might add has no RLIMIT slot here: skipped.
  BOOST_TEST(proc::parse_limits(good + "Max new thing             5                    5                    things\n").size() ==
             16u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(auxv_file)

BOOST_AUTO_TEST_CASE(odd_process) {
  auto a = proc::parse_auxv(fixture("auxv_odd.bin"));
  BOOST_TEST_REQUIRE(a.size() == 46u);
  BOOST_TEST(a[44] == 0u);  // AT_NULL
  BOOST_TEST(a[45] == 0u);
  auto value = [&](uint64_t key) {
    for (size_t i = 0; i + 1 < a.size(); i += 2)
      if (a[i] == key) return a[i + 1];
    BOOST_ERROR("no key " << key);
    return uint64_t{0};
  };
  BOOST_TEST(value(6) == 4096u);          // AT_PAGESZ
  BOOST_TEST(value(3) == 0x400040u);      // AT_PHDR of the static binary mapped at 0x400000
  BOOST_TEST(value(9) == 0x401510u);      // AT_ENTRY
  BOOST_TEST(value(17) == 100u);          // AT_CLKTCK
  BOOST_TEST(value(33) == 0x7fd192ce2000u);  // AT_SYSINFO_EHDR: the [vdso] of maps_odd.txt
  auto maps = proc::parse_maps(fixture("maps_odd.txt"));
  BOOST_TEST(find_path(maps, "[vdso]")->start == value(33));
}

BOOST_AUTO_TEST_CASE(unaligned_and_stops_at_null) {
  std::string bytes(1 + 48, '\0');
  uint64_t words[6] = {6, 4096, 0, 0, 7, 7};  // data after AT_NULL is not part of the vector
  std::memcpy(bytes.data() + 1, words, sizeof words);
  auto a = proc::parse_auxv(std::string_view(bytes).substr(1));
  BOOST_TEST((a == std::vector<uint64_t>{6, 4096, 0, 0}));
}

BOOST_AUTO_TEST_CASE(malformed) {
  std::string good = fixture("auxv_odd.bin");
  BOOST_TEST(error_of([&] { proc::parse_auxv(good.substr(0, 13)); }) == "auxv: size 13 is not a multiple of 16");
  BOOST_TEST(error_of([&] { proc::parse_auxv(good.substr(0, good.size() - 8)); }) ==
             "auxv: size 360 is not a multiple of 16");
  BOOST_TEST(error_of([&] { proc::parse_auxv(good.substr(0, good.size() - 16), "/proc/1/auxv"); }) ==
             "/proc/1/auxv: no AT_NULL entry");
  BOOST_TEST(error_of([] { proc::parse_auxv(""); }) == "auxv: no AT_NULL entry");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(mountinfo_file)

BOOST_AUTO_TEST_CASE(namespace_with_odd_mounts) {
  auto v = proc::parse_mountinfo(fixture("mountinfo.txt"));
  BOOST_TEST_REQUIRE(v.size() == 23u);
  const auto& root = v[0];
  BOOST_TEST(root.mnt_id == 43);
  BOOST_TEST(root.parent_id == 42);
  BOOST_TEST(root.dev_major == 254u);
  BOOST_TEST(root.dev_minor == 0u);
  BOOST_TEST(root.root == "/");
  BOOST_TEST(root.mount_point == "/");
  BOOST_TEST(root.options == "rw,relatime");
  BOOST_TEST(root.fstype == "ext4");
  BOOST_TEST(root.source == "/dev/vda");
  BOOST_TEST(root.super_options == "rw,discard,resv_strict,resuid=65534,resgid=65534");
  BOOST_TEST(root.optional_fields.empty());

  auto at = [&](const std::string& mp) -> const proc::MountInfo& {
    auto it = std::find_if(v.begin(), v.end(), [&](auto& m) { return m.mount_point == mp; });
    BOOST_TEST_REQUIRE((it != v.end()), "no mount at " << mp);
    return *it;
  };
  const auto& spaced = at("/tmp/ck mnt");
  BOOST_TEST(spaced.source == "src x");
  BOOST_TEST(spaced.fstype == "tmpfs");
  BOOST_TEST(spaced.super_options == "rw,size=1024k,mode=750");
  BOOST_TEST(spaced.dev_minor == 39u);

  const auto& bind = at("/tmp/ck mnt/back\\slash");
  BOOST_TEST(bind.root == "/sub\tdir");
  BOOST_TEST(bind.parent_id == spaced.mnt_id);
  BOOST_TEST(bind.dev_minor == spaced.dev_minor);

  const auto& a = at("/tmp/ck_a");
  BOOST_TEST(a.source == "");  // mounted with an empty source: two blanks in a row
  BOOST_TEST((a.optional_fields == std::vector<std::string>{"shared:1"}));
  BOOST_TEST(a.super_options == "rw");
  const auto& b = at("/tmp/ck_b");
  BOOST_TEST((b.optional_fields == std::vector<std::string>{"shared:2", "master:1"}));
}

BOOST_AUTO_TEST_CASE(self) {
  auto v = proc::parse_mountinfo(proc::read_file("/proc/self/mountinfo"), "/proc/self/mountinfo");
  BOOST_TEST(!v.empty());
  BOOST_TEST(std::any_of(v.begin(), v.end(), [](auto& m) { return m.mount_point == "/proc"; }));
}

BOOST_AUTO_TEST_CASE(malformed) {
  const std::string good = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
  BOOST_TEST(proc::parse_mountinfo(good)[0].optional_fields.size() == 1u);
  BOOST_TEST(proc::parse_mountinfo("").empty());
  BOOST_TEST(contains(error_of([&] { proc::parse_mountinfo(good + "36 35 98:0 / /x rw - ext3\n"); }),
                      "mountinfo line 2: truncated"));
  const char* bad[] = {
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",           // no " - "
      "36 35 98:0 /mnt1 /mnt2 rw,noatime - ext3 /dev/root rw extra",            // one field too many
      "36 35 98:0 /mnt1 /mnt2 rw,noatime - ext3 /dev/root",                     // one too few
      "x 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
      "36 35 98-0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
      "36 35 98:0x /mnt1 /mnt2 rw - ext3 /dev/root rw",
      "36 35 98:0 /mnt\\04 /mnt2 rw - ext3 /dev/root rw",                       // short escape
      "36 35 98:0 /mnt1 /mnt2\\ rw - ext3 /dev/root rw",                        // lone backslash
      "36 35 98:0 /mnt1 /mnt\\400 rw - ext3 /dev/root rw",                      // > 0377
      "36 35 98:0 /mnt1 /mnt\\08a rw - ext3 /dev/root rw",                      // not octal
      "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev\\x root rw",
      "36  35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
      "99999999999 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
      "- - - - - - - - - -",
  };
  for (const char* line : bad) {
    auto msg = error_of([&] { proc::parse_mountinfo(line); });
    BOOST_TEST(msg.rfind("mountinfo line 1: ", 0) == 0u, line << ": " << msg);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(children_file)

BOOST_AUTO_TEST_CASE(real_and_edge_cases) {
  BOOST_TEST((proc::parse_children(fixture("children_odd.txt")) == std::vector<pid_t>{4209, 4210}));
  BOOST_TEST(proc::parse_children("").empty());
  BOOST_TEST(proc::parse_children(" \n").empty());
  BOOST_TEST((proc::parse_children("7") == std::vector<pid_t>{7}));
  BOOST_TEST(error_of([] { proc::parse_children("12 x "); }) == "children line 1: bad pid 'x'");
  BOOST_TEST(contains(error_of([] { proc::parse_children("-1 "); }), "bad pid"));
  BOOST_TEST(contains(error_of([] { proc::parse_children("0 "); }), "bad pid"));
  BOOST_TEST(contains(error_of([] { proc::parse_children("4294967296 "); }), "bad pid"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(reading)

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ck_proc_parse_XXXXXX";
    BOOST_TEST_REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

BOOST_AUTO_TEST_CASE(read_file_whole) {
  BOOST_TEST(proc::read_file(fixture_path("smaps_python.txt")) == fixture("smaps_python.txt"));
  BOOST_TEST(proc::read_file(fixture_path("auxv_odd.bin")) == fixture("auxv_odd.bin"));
  // Bigger than the first buffer and reported as size 0 by stat(). A statically linked test has
  // too few mappings for that (5.7 KiB of smaps on arm64), so it makes 64 more: pages of
  // alternating protection in one reservation, which the kernel cannot merge.
  constexpr size_t kVmas = 64, kPage = 4096;
  void* res = mmap(nullptr, kVmas * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE(res != MAP_FAILED);
  std::unique_ptr<void, std::function<void(void*)>> unmap(res, [](void* a) { munmap(a, kVmas * kPage); });
  for (size_t i = 0; i < kVmas; i += 2)
    BOOST_TEST_REQUIRE(mprotect(static_cast<char*>(res) + i * kPage, kPage, PROT_READ) == 0);
  struct stat sb {};
  BOOST_TEST_REQUIRE(stat("/proc/self/smaps", &sb) == 0);
  BOOST_TEST(sb.st_size == 0);
  std::string smaps = proc::read_file("/proc/self/smaps");
  BOOST_TEST(smaps.size() > 16384u);
  auto entries = proc::parse_smaps(smaps, "/proc/self/smaps");
  BOOST_TEST(std::any_of(entries.begin(), entries.end(), [](auto& e) { return e.path == "[stack]"; }));
  // Every one of them, in order: nothing lost where the buffer grew.
  const auto base = reinterpret_cast<uint64_t>(res);
  size_t seen = 0;
  for (const auto& e : entries)
    if (e.start >= base && e.end <= base + kVmas * kPage) {
      BOOST_TEST(e.start == base + seen * kPage);
      BOOST_TEST(e.end == e.start + kPage);
      seen++;
    }
  BOOST_TEST(seen == kVmas);
  auto st = proc::parse_status(proc::read_file("/proc/self/status"));
  BOOST_TEST(st.pid == getpid());
  auto stt = proc::parse_stat(proc::read_file("/proc/self/stat"));
  BOOST_TEST(stt.pid == getpid());
  BOOST_TEST(stt.ppid == getppid());
  BOOST_TEST(proc::parse_auxv(proc::read_file("/proc/self/auxv")).size() >= 2u);
}

BOOST_AUTO_TEST_CASE(missing_files) {
  BOOST_TEST(!proc::read_file_if_exists("/nonexistent/ck"));
  BOOST_TEST(proc::read_file_if_exists("/proc/self/stat").has_value());
  BOOST_TEST(error_of([] { proc::read_file("/nonexistent/ck"); }) ==
             "read /nonexistent/ck: No such file or directory");
  BOOST_TEST(contains(error_of([] { proc::read_file_if_exists("/proc/self"); }), "read /proc/self: Is a directory"));
}

BOOST_AUTO_TEST_CASE(links) {
  TempDir dir;
  std::string target(3000, 'x');  // longer than the first readlink buffer
  for (size_t i = 100; i < target.size(); i += 100) target[i] = '/';
  std::string link = dir.path + "/l";
  BOOST_TEST_REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  BOOST_TEST(proc::read_link(link) == target);
  BOOST_TEST(::symlink("a b (deleted)", (dir.path + "/s").c_str()) == 0);
  BOOST_TEST(proc::read_link(dir.path + "/s") == "a b (deleted)");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
  BOOST_TEST_REQUIRE(n > 0);
  BOOST_TEST(proc::read_link("/proc/self/exe") == std::string(exe, static_cast<size_t>(n)));
  BOOST_TEST(contains(error_of([&] { proc::read_link(dir.path); }), "readlink " + dir.path + ": Invalid argument"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(robustness)

// Every prefix of every small fixture through every parser: a result or a ck::Error.
BOOST_AUTO_TEST_CASE(truncations) {
  const char* names[] = {"maps_odd.txt",      "status_child.txt",   "stat_child.txt", "fdinfo_epoll.txt",
                         "fdinfo_timerfd.txt", "limits_odd.txt",     "auxv_odd.bin",   "mountinfo.txt",
                         "children_odd.txt",   "status_kthread.txt", "stat_zombie.txt"};
  for (const char* name : names) {
    std::string text = fixture(name);
    for (size_t len = 0; len <= text.size(); ++len) parse_everything(std::string_view(text).substr(0, len));
  }
  std::string smaps = fixture("smaps_odd.txt");
  for (size_t len = 0; len <= smaps.size(); len += 13) parse_everything(std::string_view(smaps).substr(0, len));
}

// Random bytes and random edits of real text.
BOOST_AUTO_TEST_CASE(garbage) {
  std::mt19937 rng(12345);
  const std::string alphabet = "0123456789abcdefxz-: ()\\\t\n/[]kBMaxunlimited";
  for (int round = 0; round < 3000; ++round) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s) c = round % 2 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    parse_everything(s);
  }
  const char* names[] = {"maps_odd.txt", "status_odd.txt", "stat_odd.txt", "fdinfo_file.txt", "limits_cat.txt",
                         "mountinfo.txt", "auxv_odd.bin"};
  for (const char* name : names) {
    std::string base = fixture(name);
    for (int round = 0; round < 300; ++round) {
      std::string s = base;
      for (int k = 0; k < 3; ++k) s[rng() % s.size()] = alphabet[rng() % alphabet.size()];
      parse_everything(s);
    }
  }
}

BOOST_AUTO_TEST_CASE(huge_numbers) {
  const std::string big(400, '9');
  parse_everything(big);
  BOOST_TEST(contains(error_of([&] { proc::parse_maps(big + "-" + big + " r--p 0 0:0 0"); }), "bad address range"));
  BOOST_TEST(contains(error_of([&] { proc::parse_children(big); }), "bad pid '9999"));
  BOOST_TEST(contains(error_of([&] { proc::parse_children(big); }), "...'"));  // quoted text is bounded
}

BOOST_AUTO_TEST_SUITE_END()
