#include "dump_vma.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "error.hpp"
#include "pagemap_scan.hpp"
#include "proc_parse.hpp"

namespace ck {

namespace {

std::string range_str(const proc::MapsEntry& m) {
  char b[64];
  snprintf(b, sizeof b, "%llx-%llx", static_cast<unsigned long long>(m.start), static_cast<unsigned long long>(m.end));
  return b;
}

[[noreturn]] void unsupported(const proc::MapsEntry& m, const std::string& why) {
  throw Error("mapping " + range_str(m) + " " + (m.path.empty() ? "(anonymous)" : m.path) + ": " + why,
              ExitCode::unsupported);
}

bool has_flag(const proc::MapsEntry& m, const char* f) {
  return std::find(m.vmflags.begin(), m.vmflags.end(), f) != m.vmflags.end();
}

uint32_t advice_of(const proc::MapsEntry& m) {
  static const std::pair<const char*, uint32_t> table[] = {
      {"dc", img::advice_dontfork}, {"wf", img::advice_wipeonfork}, {"dd", img::advice_dontdump},
      {"hg", img::advice_hugepage}, {"nh", img::advice_nohugepage}, {"mg", img::advice_mergeable},
      {"lo", img::advice_locked},   {"gd", img::advice_growsdown},  {"rr", img::advice_random},
      {"sr", img::advice_sequential}};
  uint32_t a = 0;
  for (auto& [name, bit] : table)
    if (has_flag(m, name)) a |= bit;
  return a;
}

bool is_anon_name(const std::string& p) {
  return p.empty() || p == "[heap]" || p == "[stack]" || p.rfind("[anon:", 0) == 0 || p.rfind("[stack:", 0) == 0;
}

std::optional<uint64_t> deleted_mapping_file_size(pid_t pid, const proc::MapsEntry& m) {
  char name[80];
  snprintf(name, sizeof name, "/proc/%d/map_files/%llx-%llx", pid, static_cast<unsigned long long>(m.start),
           static_cast<unsigned long long>(m.end));
  struct stat st {};
  if (stat(name, &st) != 0 || st.st_ino != m.inode) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

AddressSpace collect_address_space(pid_t pid, FileTable& files) {
  const std::string base = "/proc/" + std::to_string(pid);
  auto entries = proc::parse_smaps(proc::read_file(base + "/smaps"), base + "/smaps");
  PagemapScanner scanner(pid);
  AddressSpace as;
  for (const auto& m : entries) {
    if (m.path == "[vsyscall]") continue;
    img::Vma v;
    v.start = m.start;
    v.end = m.end;
    v.prot = (m.read ? PROT_READ : 0) | (m.write ? PROT_WRITE : 0) | (m.exec ? PROT_EXEC : 0);
    v.advice = advice_of(m);
    v.name = m.path;
    v.pgoff = m.offset;

    if (m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") {
      v.kind = m.path == "[vdso]" ? img::VmaKind::vdso : m.path == "[vvar]" ? img::VmaKind::vvar : img::VmaKind::vvar_vclock;
      if (v.kind == img::VmaKind::vdso) {
        as.vdso_start = m.start;
        as.vdso_end = m.end;
      }
      as.vmas.push_back(v);
      continue;
    }
    if (has_flag(m, "io") || has_flag(m, "pf")) unsupported(m, "I/O or PFN mapping (a device) is not supported");
    if (has_flag(m, "um") || has_flag(m, "uw")) unsupported(m, "registered with userfaultfd: not supported");
    if (m.path.size() > 1 && m.path[0] == '[' && !is_anon_name(m.path) && m.path.rfind("[anon_shmem:", 0) != 0)
      unsupported(m, "special mapping " + m.path + " is not supported");

    // Rings of io_uring, perf event buffers, ... mapped from an anonymous-inode file.
    if (m.path.rfind("anon_inode:", 0) == 0) unsupported(m, "mappings of anonymous-inode files are not supported");
    if (m.path == "/secretmem") unsupported(m, "memfd_secret areas are not supported (their content cannot be read)");

    const bool anon = m.inode == 0 && (is_anon_name(m.path) || m.path.rfind("[anon_shmem:", 0) == 0);
    if (anon && !m.shared) {
      v.kind = img::VmaKind::anon_private;
      for (auto& r : scanner.scan(m.start, m.end, ScanWant::present)) as.spans.push_back({r.start, r.end, false});
    } else if (m.shared && (anon || (m.path == "/dev/zero" && m.deleted))) {
      v.kind = img::VmaKind::anon_shared;
      for (auto& r : scanner.scan(m.start, m.end, ScanWant::present)) as.spans.push_back({r.start, r.end, false});
    } else {
      if (m.path.rfind("/SYSV", 0) == 0) unsupported(m, "SysV shared memory is not supported yet");
      struct stat st {};
      if (m.deleted) {
        if (m.shared) {
          // A memfd or an unlinked /dev/shm file (POSIX semaphores, shared memory): the file
          // only lives on in its mappings. Its content goes into the image; the mapping, in
          // every process that has it, shares one new file again.
          char mf[96];
          snprintf(mf, sizeof mf, "/proc/%d/map_files/%llx-%llx", pid, static_cast<unsigned long long>(m.start),
                   static_cast<unsigned long long>(m.end));
          struct stat fst {};
          std::string source;
          if (stat(mf, &fst) == 0 && fst.st_ino == m.inode) {
            source = mf;
          } else {
            // map_files needs CAP_CHECKPOINT_RESTORE: read the content through the mapping.
            fst = {};
            fst.st_dev = makedev(m.dev_major, m.dev_minor);
            fst.st_ino = m.inode;
            fst.st_mode = S_IFREG | 0600;
            source = "mem:" + std::to_string(pid) + ":" + std::to_string(m.start) + ":" +
                     std::to_string(m.end - m.start) + ":" + std::to_string(m.offset);
          }
          v.kind = img::VmaKind::file_shared;
          v.file_id = files.add(m.path, true, fst, source);
          as.vmas.push_back(v);
          continue;
        }
        // The file is gone: its content as mapped becomes private anonymous memory. Pages past
        // the end of the file cannot be read (SIGBUS for the program too): they stay out.
        v.kind = img::VmaKind::anon_private;
        v.name = m.path + " (deleted)";
        uint64_t end = m.end;
        if (auto size = deleted_mapping_file_size(pid, m)) {
          uint64_t file_end = *size > m.offset ? ((*size - m.offset + 4095) & ~4095ull) : 0;
          end = std::min(m.end, m.start + file_end);
          if (end > m.start) as.spans.push_back({m.start, end, false});
        } else {
          // Without the file's size (map_files needs CAP_CHECKPOINT_RESTORE), only what the
          // program has touched is saved; the rest of the mapping comes back as zeros.
          for (auto& r : scanner.scan(m.start, m.end, ScanWant::present)) as.spans.push_back({r.start, r.end, false});
        }
        as.vmas.push_back(v);
        continue;
      }
      if (stat(m.path.c_str(), &st) != 0) throw_errno("mapping " + range_str(m) + ": stat " + m.path);
      if (st.st_ino != m.inode || major(st.st_dev) != m.dev_major || minor(st.st_dev) != m.dev_minor)
        unsupported(m, "the path now names another file than the one mapped");
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) unsupported(m, "device mappings are not supported");
      v.file_id = files.add(m.path, false, st);
      if (m.shared) {
        v.kind = img::VmaKind::file_shared;
      } else {
        v.kind = img::VmaKind::file_private;
        for (auto& r : scanner.scan(m.start, m.end, ScanWant::written_private))
          as.spans.push_back({r.start, r.end, true});
      }
    }
    as.vmas.push_back(v);
  }
  return as;
}

}  // namespace ck
