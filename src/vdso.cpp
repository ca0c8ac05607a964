#include "vdso.hpp"

#include <elf.h>
#include <sys/syscall.h>

#include <cstring>
#include <algorithm>
#include <map>
#include <optional>

#include "arch.hpp"
#include "error.hpp"

namespace ck {

std::vector<VdsoFunction> vdso_functions(std::string_view so) {
  std::vector<VdsoFunction> out;
  auto fits = [&](uint64_t off, uint64_t len) { return off <= so.size() && len <= so.size() - off; };
  if (!fits(0, sizeof(Elf64_Ehdr))) return out;
  Elf64_Ehdr eh;
  std::memcpy(&eh, so.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_shentsize != sizeof(Elf64_Shdr) || !fits(eh.e_shoff, uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr)))
    return out;
  auto shdr = [&](size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, so.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  // The first dynamic symbol table only, of at most kMaxSymbols: a vDSO has a few dozen, and a
  // damaged image must not make a list of millions.
  constexpr uint64_t kMaxSymbols = 4096;
  for (size_t i = 0; i < eh.e_shnum; i++) {
    const Elf64_Shdr sym = shdr(i);
    if (sym.sh_type != SHT_DYNSYM) continue;
    if (sym.sh_link >= eh.e_shnum || !fits(sym.sh_offset, sym.sh_size)) break;
    const Elf64_Shdr str = shdr(sym.sh_link);
    if (!fits(str.sh_offset, str.sh_size)) break;
    const uint64_t end = std::min<uint64_t>(sym.sh_size, kMaxSymbols * sizeof(Elf64_Sym));
    for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= end; off += sizeof(Elf64_Sym)) {
      Elf64_Sym s;
      std::memcpy(&s, so.data() + sym.sh_offset + off, sizeof s);
      if (s.st_name >= str.sh_size || ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF) continue;
      const char* n = so.data() + str.sh_offset + s.st_name;
      const size_t max = str.sh_size - s.st_name;
      const size_t len = strnlen(n, max);
      if (len == 0 || len == max || !fits(s.st_value, 4)) continue;
      out.push_back({std::string(n, len), s.st_value, s.st_size});
    }
    break;
  }
  return out;
}

uint64_t vdso_symbol(std::string_view so, const char* name) {
  for (const VdsoFunction& f : vdso_functions(so))
    if (f.name == name) return f.offset;
  return 0;
}

namespace {

// The syscall a vDSO function stands in for, with the same arguments (getrandom's extra state
// arguments are the vDSO's own: the syscall ignores them), for a function the new vDSO lacks.
std::optional<long> fallback_syscall(std::string name) {
  for (const char* prefix : {"__vdso_", "__kernel_"})
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::strlen(prefix));
  static const std::map<std::string, long> nrs = {
      {"clock_gettime", SYS_clock_gettime}, {"clock_getres", SYS_clock_getres}, {"gettimeofday", SYS_gettimeofday},
      {"getcpu", SYS_getcpu},               {"getrandom", SYS_getrandom},
#ifdef SYS_time  // x86_64 has time(2) (and __vdso_time); arm64 has neither
      {"time", SYS_time},
#endif
  };
  auto it = nrs.find(name);
  if (it == nrs.end()) return std::nullopt;
  return it->second;
}

}  // namespace

std::string vdso_proxy_code(std::string_view old_so, std::string_view new_so, uint64_t new_base,
                            const std::vector<uint64_t>& thread_pcs, VdsoProxyStats* stats) {
  const std::vector<VdsoFunction> olds = vdso_functions(old_so);
  if (olds.empty()) throw Error("the checkpoint's vDSO has no function ck can read", ExitCode::bad_image);
  std::map<std::string, uint64_t> news;
  for (const VdsoFunction& f : vdso_functions(new_so)) news.emplace(f.name, f.offset);
  // One patch per entry address: aliases (clock_gettime, __vdso_clock_gettime) share one; a
  // jump wins over a trap should only one alias exist in the new vDSO.
  struct Patch {
    uint64_t size = 0;
    std::optional<uint64_t> target;
    std::optional<long> syscall;  // when there is no target
    std::string name;
  };
  std::map<uint64_t, Patch> patches;
  for (const VdsoFunction& f : olds) {
    Patch& p = patches[f.offset];
    p.size = std::max(p.size, f.size);
    if (p.name.empty()) p.name = f.name;
    auto it = news.find(f.name);
    if (it != news.end() && !p.target) p.target = new_base + it->second;
    if (!p.syscall) p.syscall = fallback_syscall(f.name);
  }
  std::string code(old_so);
  VdsoProxyStats st;
  const std::vector<uint8_t> trap = arch::trap_insn();
  for (auto it = patches.begin(); it != patches.end(); ++it) {
    const uint64_t at = it->first;
    const Patch& p = it->second;
    std::vector<uint8_t> bytes = p.target    ? arch::absolute_jump(*p.target)
                                 : p.syscall ? arch::syscall_stub(*p.syscall)
                                             : trap;
    // Room up to the next function and the end of the image, and the function's own size.
    uint64_t room = code.size() - at;
    if (auto next = std::next(it); next != patches.end()) room = std::min(room, next->first - at);
    if (p.size) room = std::min(room, p.size);
    if (bytes.size() > room) {
      // Too small for the jump: a bare syscall stub such as arm64's __kernel_rt_sigreturn
      // ("mov x8, #139; svc #0"), which does the same on every kernel. A trap still fits.
      if (p.target || trap.size() > room) {
        st.kept++;
        continue;
      }
    }
    // A thread stopped inside these bytes (past the entry) would resume in the middle of the
    // jump: only the old code could go on from there, and it reads data pages this kernel does
    // not have.
    for (uint64_t pc : thread_pcs)
      if (pc > at && pc < at + bytes.size())
        throw Error("a thread was checkpointed at offset " + std::to_string(pc - at) + " of the vDSO's " + p.name +
                        ", whose first bytes this kernel's different vDSO needs for a jump: restore on the "
                        "checkpoint's kernel, or checkpoint again",
                    ExitCode::unsupported);
    std::memcpy(code.data() + at, bytes.data(), bytes.size());
    (p.target ? st.jumps : p.syscall ? st.stubs : st.traps)++;
  }
  if (stats) *stats = st;
  return code;
}

}  // namespace ck
