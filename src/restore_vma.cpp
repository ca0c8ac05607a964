#include "restore_vma.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "arch.hpp"
#include "error.hpp"
#include "hex.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "page_pipeline.hpp"
#include "proc_parse.hpp"
#include "restore_fd.hpp"
#include "restore_shm.hpp"
#include "restore_ipc.hpp"
#include "unique_fd.hpp"
#include "vdso.hpp"

namespace ck {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHuge = 2ull << 20;
constexpr uint64_t kLowest = 1ull << 32;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// The lowest huge-page-aligned start above kLowest of `size` bytes clear of `busy` by a huge
// page on each side.
uint64_t find_free(std::vector<Range> busy, uint64_t size, const char* what) {
  std::sort(busy.begin(), busy.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  uint64_t candidate = kLowest;
  for (const auto& r : busy) {
    if (r.end <= candidate) continue;
    if (r.start >= candidate + size + kHuge) break;
    candidate = align_up(r.end + kHuge, kHuge);
  }
  if (candidate + size > arch::user_address_limit())
    throw Error("no room for " + std::to_string(size >> 10) + " KiB of " + what + " in the address space");
  return candidate;
}

bool is_special(img::VmaKind k) {
  return k == img::VmaKind::vdso || k == img::VmaKind::vvar || k == img::VmaKind::vvar_vclock ||
         k == img::VmaKind::vsyscall;
}

std::vector<Range> own_ranges() {
  std::vector<Range> out;
  for (auto& m : proc::parse_maps(proc::read_file("/proc/self/maps"), "/proc/self/maps"))
    out.push_back({m.start, m.end});
  return out;
}

std::string vma_str(const img::Vma& v) {
  return "mapping " + hex(v.start) + "-" + hex(v.end) + (v.name.empty() ? "" : " " + v.name);
}

int advice_to_madvise(uint32_t bit) {
  switch (bit) {
    case img::advice_dontfork: return MADV_DONTFORK;
    case img::advice_wipeonfork: return MADV_WIPEONFORK;
    case img::advice_dontdump: return MADV_DONTDUMP;
    case img::advice_hugepage: return MADV_HUGEPAGE;
    case img::advice_nohugepage: return MADV_NOHUGEPAGE;
    case img::advice_mergeable: return MADV_MERGEABLE;
    case img::advice_random: return MADV_RANDOM;
    case img::advice_sequential: return MADV_SEQUENTIAL;
    default: return -1;
  }
}

}  // namespace

SpecialMappings own_special_mappings() {
  SpecialMappings s;
  for (auto& m : proc::parse_maps(proc::read_file("/proc/self/maps"), "/proc/self/maps")) {
    if (m.path == "[vdso]") s.vdso = {m.start, m.end};
    if (m.path == "[vvar]") s.vvar = {m.start, m.end};
    if (m.path == "[vvar_vclock]") s.vvar_vclock = {m.start, m.end};
  }
  return s;
}

PremapPlan plan_premap(const img::Process& p, const SpecialMappings& own, std::vector<Range>& taken,
                       const std::string* old_vdso) {
  PremapPlan plan;
  uint64_t park_size = (own.vvar.end - own.vvar.start) + (own.vvar_vclock.end - own.vvar_vclock.start) +
                       (own.vdso.end - own.vdso.start);
  uint64_t cursor = 2 * kPage + PremapPlan::kDataSize;  // insn page, guard, data
  uint64_t park_off = cursor;
  cursor += park_size + kPage;
  const auto image_vdso = std::find_if(p.vmas.begin(), p.vmas.end(), [](const img::Vma& v) { return v.kind == img::VmaKind::vdso; });
  const bool proxied = old_vdso && image_vdso != p.vmas.end() && own.vdso.end > own.vdso.start;
  uint64_t proxy_off = 0;
  if (proxied) {
    if (image_vdso->end - image_vdso->start != old_vdso->size())
      throw Error("the image's [vdso] is " + std::to_string(image_vdso->end - image_vdso->start) +
                      " bytes, its saved vDSO " + std::to_string(old_vdso->size()),
                  ExitCode::bad_image);
    proxy_off = cursor;
    cursor += align_up(old_vdso->size(), kPage) + kPage;
  }
  std::vector<uint64_t> offsets;
  for (const auto& v : p.vmas) {
    if (is_special(v.kind)) {
      offsets.push_back(0);
      continue;
    }
    // Same offset within a huge page as the final address, so that mremap can keep THPs.
    uint64_t off = align_up(cursor, kHuge) + (v.start % kHuge);
    if (off < cursor) off += kHuge;
    offsets.push_back(off);
    cursor = off + (v.end - v.start) + kPage;
  }
  plan.size = align_up(cursor, kHuge);

  std::vector<Range> busy = own_ranges();
  for (const auto& v : p.vmas) busy.push_back({v.start, v.end});
  busy.insert(busy.end(), taken.begin(), taken.end());
  const uint64_t candidate = find_free(busy, plan.size, "premapped memory");
  void* got = mmap(reinterpret_cast<void*>(candidate), plan.size, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (got == MAP_FAILED) throw_errno("reserve premap region at " + hex(candidate));
  plan.base = candidate;
  taken.push_back({candidate, candidate + plan.size});
  plan.insn_page = candidate;
  plan.data_page = candidate + 2 * kPage;
  plan.park = candidate + park_off;
  if (proxied) {
    // This kernel's vDSO and data pages keep ckrestore's layout (the code finds its data at a
    // fixed distance), somewhere no mapping of the image and no premap region is.
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const Range* r : {&own.vvar, &own.vvar_vclock, &own.vdso})
      if (r->end > r->start) lo = std::min(lo, r->start), hi = std::max(hi, r->end);
    busy.push_back({candidate, candidate + plan.size});
    plan.vdso_home = find_free(busy, hi - lo, "vDSO");
    taken.push_back({plan.vdso_home, plan.vdso_home + (hi - lo)});
    plan.proxy = candidate + proxy_off;
    const std::string_view new_vdso(reinterpret_cast<const char*>(own.vdso.start), own.vdso.end - own.vdso.start);
    std::vector<uint64_t> pcs;  // threads standing in the old vDSO
    for (const img::Thread& t : p.threads) {
      const uint64_t pc = arch::get_ip(t.gpregs);
      if (pc >= image_vdso->start && pc < image_vdso->end) pcs.push_back(pc - image_vdso->start);
    }
    VdsoProxyStats st;
    plan.proxy_code =
        with_context("pid " + std::to_string(p.pid), [&] {
          return vdso_proxy_code(*old_vdso, new_vdso, plan.vdso_home + (own.vdso.start - lo), pcs, &st);
        });
    CK_LOG(1, "pid %d: vDSO proxy at %s (%zu jumps, %zu syscall stubs, %zu traps, %zu kept), this kernel's vDSO at %s",
           p.pid, hex(image_vdso->start).c_str(), st.jumps, st.stubs, st.traps, st.kept,
           hex(plan.vdso_home + (own.vdso.start - lo)).c_str());
  }
  for (size_t i = 0; i < offsets.size(); i++) plan.premap.push_back(offsets[i] ? candidate + offsets[i] : 0);
  return plan;
}

void premap_memory(const img::LoadedImage& image, const img::Process& p, const PremapPlan& plan,
                   const std::map<int32_t, int>& shared_file_fd, const std::map<uint64_t, uint64_t>& shared_anon) {
  const img::Tree& tree = image.tree;
  const std::string& image_dir = image.dir;
  // The page where the parent will run syscalls, and room for their arguments.
  if (mmap(reinterpret_cast<void*>(plan.insn_page), kPage, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    throw_errno("map syscall page");
  auto insn = arch::syscall_insn();
  std::memcpy(reinterpret_cast<void*>(plan.insn_page), insn.data(), insn.size());
  arch::sync_icache(reinterpret_cast<void*>(plan.insn_page), insn.size());
  if (mprotect(reinterpret_cast<void*>(plan.insn_page), kPage, PROT_READ | PROT_EXEC) != 0)
    throw_errno("mprotect syscall page");
  if (mmap(reinterpret_cast<void*>(plan.data_page), PremapPlan::kDataSize, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    throw_errno("map data page");

  if (plan.proxy) {
    const uint64_t len = align_up(plan.proxy_code.size(), kPage);
    if (mmap(reinterpret_cast<void*>(plan.proxy), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
             -1, 0) == MAP_FAILED)
      throw_errno("map vDSO proxy");
    std::memcpy(reinterpret_cast<void*>(plan.proxy), plan.proxy_code.data(), plan.proxy_code.size());
    arch::sync_icache(reinterpret_cast<void*>(plan.proxy), plan.proxy_code.size());
    if (mprotect(reinterpret_cast<void*>(plan.proxy), len, PROT_READ | PROT_EXEC) != 0) throw_errno("mprotect vDSO proxy");
  }

  // Which VMAs receive pages: they are mapped writable until the pages are in.
  std::vector<bool> has_pages(p.vmas.size(), false);
  auto find_vma = [&](uint64_t addr) -> size_t {
    auto it = std::upper_bound(p.vmas.begin(), p.vmas.end(), addr,
                               [](uint64_t a, const img::Vma& v) { return a < v.start; });
    if (it == p.vmas.begin()) return SIZE_MAX;
    size_t i = static_cast<size_t>(it - p.vmas.begin()) - 1;
    return addr < p.vmas[i].end ? i : SIZE_MAX;
  };
  for (const auto& fr : p.pages)
    for (const auto& run : fr.runs) {
      size_t i = find_vma(run.vaddr);
      if (i == SIZE_MAX || is_special(p.vmas[i].kind) || run.vaddr + uint64_t(run.npages) * kPage > p.vmas[i].end)
        throw Error("pages at " + hex(run.vaddr) + " lie outside any restorable mapping", ExitCode::bad_image);
      has_pages[i] = true;
    }

  std::vector<bool> reprotect = has_pages;
  for (size_t i = 0; i < p.vmas.size(); i++) {
    const img::Vma& v = p.vmas[i];
    if (is_special(v.kind)) continue;
    if (v.kind == img::VmaKind::sysv_shm) {
      with_context(vma_str(v), [&] { map_sysv_shm(v, plan.premap[i]); });
      continue;
    }
    if (v.kind == img::VmaKind::anon_shared &&
        with_context(vma_str(v), [&] { return map_shared_anon(shared_anon, v, plan.premap[i]); })) {
      reprotect[i] = true;  // the view is read-write until its final protection is set
      continue;
    }
    with_context(vma_str(v), [&] {
      int prot = static_cast<int>(v.prot) | (has_pages[i] ? PROT_READ | PROT_WRITE : 0);
      int flags = MAP_FIXED;
      UniqueFd fd;
      switch (v.kind) {
        case img::VmaKind::anon_private:
          flags |= MAP_PRIVATE | MAP_ANONYMOUS | ((v.advice & img::advice_growsdown) ? MAP_GROWSDOWN : 0);
          break;
        case img::VmaKind::anon_shared:
          flags |= MAP_SHARED | MAP_ANONYMOUS;
          break;
        case img::VmaKind::file_private:
        case img::VmaKind::file_shared: {
          if (v.file_id < 0 || static_cast<size_t>(v.file_id) >= tree.files.size())
            throw Error("bad file id", ExitCode::bad_image);
          bool shared = v.kind == img::VmaKind::file_shared;
          int oflags = shared && (v.prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
          auto staged = shared_file_fd.find(v.file_id);
          if (shared && staged != shared_file_fd.end())
            fd.reset(fcntl(staged->second, F_DUPFD_CLOEXEC, 0));
          else
            fd.reset(open_image_file_object(tree.files[v.file_id], image_dir, oflags));
          if (!fd) throw_errno("open");
          flags |= shared ? MAP_SHARED : MAP_PRIVATE;
          break;
        }
        default:
          throw Error("unexpected mapping kind", ExitCode::bad_image);
      }
      void* want = reinterpret_cast<void*>(plan.premap[i]);
      void* got = mmap(want, v.end - v.start, prot, flags, fd ? fd.get() : -1, static_cast<off_t>(v.pgoff));
      if (got != want) throw_errno("mmap");
    });
  }

  Translate translate = [&](uint64_t vaddr, uint64_t len) -> unsigned char* {
    size_t i = find_vma(vaddr);
    if (i == SIZE_MAX || vaddr + len > p.vmas[i].end)
      throw Error("pages at " + hex(vaddr) + " outside any mapping", ExitCode::bad_image);
    return reinterpret_cast<unsigned char*>(plan.premap[i] + (vaddr - p.vmas[i].start));
  };
  if (!p.pages.empty()) {
    // The file was not hashed when the image was loaded (DataCheck::except_pages): it is hashed
    // here while its frames are decompressed, and a mismatch fails this process before
    // ckrestore hands anything over (the parent then kills what it created).
    const std::string name = "pages-" + std::to_string(p.pid) + ".ck";
    auto entry = std::find_if(image.manifest.entries.begin(), image.manifest.entries.end(),
                              [&](const img::ManifestEntry& e) { return e.name == name; });
    if (entry == image.manifest.entries.end())
      throw Error(image_dir + "/" + name + ": not listed in the manifest", ExitCode::bad_image);
    const FileCheck check{image_dir + "/" + name, entry->size, entry->xxh3};
    UniqueFd pages = img::open_image_file(image_dir, name, img::FileKind::pages);
    restore_pages(pages.get(), p.pages, translate, 0, &check);
    // Code among the pages (a JIT's output, patched text): the instruction cache must not
    // serve what was at those addresses before. Only the pages written, never the untouched
    // rest of a library's text (touching it would fault it in).
    for (const auto& fr : p.pages)
      for (const auto& run : fr.runs)
        if (p.vmas[find_vma(run.vaddr)].prot & PROT_EXEC) {
          const uint64_t len = uint64_t(run.npages) * kPage;
          arch::sync_icache(translate(run.vaddr, len), len);
        }
  }

  for (size_t i = 0; i < p.vmas.size(); i++) {
    const img::Vma& v = p.vmas[i];
    if (is_special(v.kind)) continue;
    void* at = reinterpret_cast<void*>(plan.premap[i]);
    size_t len = v.end - v.start;
    for (uint32_t bit = 1; bit; bit <<= 1) {
      if (!(v.advice & bit)) continue;
      int adv = advice_to_madvise(bit);
      if (adv >= 0 && madvise(at, len, adv) != 0)
        log::warn(vma_str(v) + ": madvise " + std::to_string(adv) + ": " + strerror(errno));
    }
    if ((v.advice & img::advice_locked) && mlock(at, len) != 0)
      log::warn(vma_str(v) + ": mlock: " + strerror(errno) + " (restored unlocked)");
    if (reprotect[i] && mprotect(at, len, static_cast<int>(v.prot)) != 0)
      throw_errno(vma_str(v) + ": mprotect");
  }
}

namespace {

// ckrestore and the stopped child on one CPU while ckrestore injects a syscall per VMA: on two
// CPUs each injected syscall costs four cross-CPU wake-ups (the tracee resumed, its stop
// reported, both ways), which is most of the time with thousands of VMAs (bench_inject: ~75 us
// per mremap on different CPUs, ~20 us on the same one). Both affinities are put back on the
// way out. Best effort: where pinning is refused (cpusets), it is only slower.
class PinnedTogether {
 public:
  explicit PinnedTogether(pid_t child) : child_(child) {
    const int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof self_, &self_) != 0 ||
        sched_getaffinity(child_, sizeof child_mask_, &child_mask_) != 0)
      return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return;
    self_pinned_ = true;
    child_pinned_ = sched_setaffinity(child_, sizeof one, &one) == 0;
  }
  PinnedTogether(const PinnedTogether&) = delete;
  PinnedTogether& operator=(const PinnedTogether&) = delete;
  ~PinnedTogether() {
    if (child_pinned_ && sched_setaffinity(child_, sizeof child_mask_, &child_mask_) != 0)
      log::warn("pid " + std::to_string(child_) + ": cannot restore its CPU affinity: " + strerror(errno));
    if (self_pinned_) sched_setaffinity(0, sizeof self_, &self_);
  }

 private:
  pid_t child_;
  cpu_set_t self_{}, child_mask_{};
  bool self_pinned_ = false, child_pinned_ = false;
};

}  // namespace

void move_memory_into_place(RemoteSyscall& rs, const img::Process& p, const PremapPlan& plan,
                            const SpecialMappings& own) {
  PinnedTogether pin(rs.task().tid());
  // 1. Everything but the premap region and the vDSO goes: ckrestore's code, heap, stacks.
  std::vector<Range> keep = {{plan.base, plan.base + plan.size}};
  for (const Range& r : {own.vvar, own.vvar_vclock, own.vdso})
    if (r.end > r.start) keep.push_back(r);
  std::sort(keep.begin(), keep.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  uint64_t from = 0;
  for (const Range& r : keep) {
    if (r.start > from) rs.check("munmap " + hex(from) + "-" + hex(r.start), SYS_munmap, from, r.start - from);
    from = r.end;
  }
  if (from < arch::user_address_limit()) rs.check("munmap " + hex(from) + "-" + hex(arch::user_address_limit()), SYS_munmap, from, arch::user_address_limit() - from);

  // 2. The vDSO and its data pages, to where the program expects them. Parked first because
  //    the old and new places may overlap.
  const Range* own_of[3] = {&own.vvar, &own.vvar_vclock, &own.vdso};
  const img::VmaKind kinds[3] = {img::VmaKind::vvar, img::VmaKind::vvar_vclock, img::VmaKind::vdso};
  uint64_t parked[3] = {0, 0, 0};
  uint64_t at = plan.park;
  for (int k = 0; k < 3; k++) {
    const Range& r = *own_of[k];
    if (r.end <= r.start) continue;
    uint64_t len = r.end - r.start;
    rs.check("mremap special mapping to " + hex(at), SYS_mremap, r.start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at);
    parked[k] = at;
    at += len;
  }
  if (plan.proxy) {
    // This kernel's vDSO and data pages to their new home; at the old places, the proxy and
    // read-only zeros (a thread stopped inside old vDSO code reads them and does not fault).
    uint64_t lo = UINT64_MAX;
    for (int k = 0; k < 3; k++)
      if (parked[k]) lo = std::min(lo, own_of[k]->start);
    for (int k = 0; k < 3; k++) {
      if (!parked[k]) continue;
      const uint64_t len = own_of[k]->end - own_of[k]->start, to = plan.vdso_home + (own_of[k]->start - lo);
      rs.check("mremap special mapping to " + hex(to), SYS_mremap, parked[k], len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    }
    for (const img::Vma& v : p.vmas) {
      if (v.kind == img::VmaKind::vvar || v.kind == img::VmaKind::vvar_vclock)
        rs.check("map zeros at the old " + v.name, SYS_mmap, v.start, v.end - v.start, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, static_cast<uint64_t>(-1), 0);
      if (v.kind == img::VmaKind::vdso)
        rs.check("mremap the vDSO proxy to " + hex(v.start), SYS_mremap, plan.proxy, v.end - v.start, v.end - v.start,
                 MREMAP_MAYMOVE | MREMAP_FIXED, v.start);
    }
  }
  for (int k = 0; k < 3 && !plan.proxy; k++) {
    if (!parked[k]) continue;
    uint64_t len = own_of[k]->end - own_of[k]->start;
    auto it = std::find_if(p.vmas.begin(), p.vmas.end(), [&](const img::Vma& v) { return v.kind == kinds[k]; });
    if (it == p.vmas.end()) {
      rs.check("munmap special mapping", SYS_munmap, parked[k], len);
      continue;
    }
    if (it->end - it->start != len)
      throw Error("the image's " + it->name + " is " + std::to_string(it->end - it->start) + " bytes, this kernel's " +
                      std::to_string(len) + ": restore on the kernel the checkpoint was made on",
                  ExitCode::unsupported);
    rs.check("mremap " + it->name + " to " + hex(it->start), SYS_mremap, parked[k], len, len,
             MREMAP_MAYMOVE | MREMAP_FIXED, it->start);
  }

  // 3. Every premapped VMA to its address.
  for (size_t i = 0; i < p.vmas.size(); i++) {
    const img::Vma& v = p.vmas[i];
    if (is_special(v.kind)) continue;
    uint64_t len = v.end - v.start;
    rs.check("mremap " + vma_str(v), SYS_mremap, plan.premap[i], len, len, MREMAP_MAYMOVE | MREMAP_FIXED, v.start);
  }
}

}  // namespace ck
