/*
 * clockshift: an LD_PRELOAD library that shifts one process's wall clock, and nothing else.
 *
 * The offset is a signed number of milliseconds in ASCII in the file named by CLOCKSHIFT_FILE
 * (a missing, unreadable or malformed file means 0). It applies to clock_gettime for
 * CLOCK_REALTIME and CLOCK_REALTIME_COARSE, to gettimeofday and to time; every other clock
 * (CLOCK_MONOTONIC above all) is left alone, which is exactly what an NTP step or a VM migration
 * does to a machine. Writers replace the file by rename so that a reader never sees half a value.
 *
 * Why it is written the way it is:
 * - libfaketime deadlocks Debian's jemalloc-linked redis-server: it calls dlsym, malloc and stdio
 *   from inside the clock functions, and jemalloc itself asks for the time while holding its
 *   locks. Here the clock functions call nothing that allocates or takes a lock: the real time
 *   comes from the kernel's vDSO (found through the auxiliary vector, not dlsym) or a raw
 *   syscall, and the file is read with raw openat/read/close.
 * - Redis and the JVM read the clock very often, so the offset is cached and the file re-read at
 *   most once per REREAD_NS of CLOCK_MONOTONIC, by whichever thread wins a compare-and-swap;
 *   the others go on with the cached value. No locks, only atomics, so it is safe in any thread
 *   and in signal handlers.
 * - The JVM calls clock_gettime(CLOCK_MONOTONIC) for every System.nanoTime, which is why the
 *   pass-through uses the vDSO too rather than a syscall.
 *
 * Build: gcc -shared -fPIC -O2 -o libclockshift.so clockshift.c
 * Use:   CLOCKSHIFT_FILE=/tmp/offset LD_PRELOAD=/path/libclockshift.so redis-server ...
 *        echo 5000 > /tmp/offset.new && mv /tmp/offset.new /tmp/offset
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* <sys/time.h> is not included (struct timeval comes from <sys/select.h>): glibc declares
 * gettimeofday's first argument nonnull, which would let the compiler drop the NULL check below,
 * and callers do pass NULL when they only want the time zone. */

/* How stale the cached offset may get: a new value takes effect within this (plus one file
 * read), and the file is read at most this often however hot the clock is. */
#define REREAD_NS 5000000LL

/* More digits than this cannot be a sensible offset in milliseconds; also rules out overflow. */
#define MAX_DIGITS 15

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

/* The vDSO's clock_gettime: 0 not looked up yet, 1 none (use the syscall), else its address. */
static _Atomic uintptr_t vdso_clock_gettime;

static _Atomic long long offset_ms;
static _Atomic long long next_read_ns;
static atomic_int loaded;

static int same(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/*
 * Finds a function exported by the vDSO by walking its ELF dynamic symbol table, as the kernel's
 * own tools/testing/selftests/vDSO/parse_vdso.c does. Returns 0 when anything is not as expected;
 * the caller then falls back to the syscall, which is slower but always right.
 */
static uintptr_t vdso_symbol(const char *name) {
#if defined(__x86_64__) || defined(__aarch64__)
  uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    return 0;
  }
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
  const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
  uintptr_t load = 0;
  int have_load = 0;
  const ElfW(Dyn) *dyn = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type == PT_LOAD && !have_load) {
      load = base + ph[i].p_offset - ph[i].p_vaddr;
      have_load = 1;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
    }
  }
  if (!have_load || dyn == 0) {
    return 0;
  }
  const char *strtab = 0;
  const ElfW(Sym) *symtab = 0;
  const Elf32_Word *hash = 0;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    if (dyn->d_tag == DT_STRTAB) {
      strtab = (const char *)(load + dyn->d_un.d_ptr);
    } else if (dyn->d_tag == DT_SYMTAB) {
      symtab = (const ElfW(Sym) *)(load + dyn->d_un.d_ptr);
    } else if (dyn->d_tag == DT_HASH) {
      hash = (const Elf32_Word *)(load + dyn->d_un.d_ptr);
    }
  }
  if (strtab == 0 || symtab == 0 || hash == 0) {
    return 0;
  }
  /* In DT_HASH, the second word (nchain) is the number of symbols. */
  for (Elf32_Word i = 0; i < hash[1]; i++) {
    const ElfW(Sym) *s = &symtab[i];
    int bind = ELF64_ST_BIND(s->st_info);
    if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF
        || (bind != STB_GLOBAL && bind != STB_WEAK)) {
      continue;
    }
    if (same(strtab + s->st_name, name)) {
      return load + s->st_value;
    }
  }
#else
  (void)name;
#endif
  return 0;
}

static clock_gettime_fn vdso(void) {
  uintptr_t f = atomic_load_explicit(&vdso_clock_gettime, memory_order_acquire);
  if (f == 0) {
    /* Racing threads find the same address: no need for more than an atomic store. */
    f = vdso_symbol("__vdso_clock_gettime");
    if (f == 0) {
      f = vdso_symbol("__kernel_clock_gettime");
    }
    if (f == 0) {
      f = 1;
    }
    atomic_store_explicit(&vdso_clock_gettime, f, memory_order_release);
  }
  return f == 1 ? 0 : (clock_gettime_fn)f;
}

/* The unshifted clock, with libc's contract: 0, or -1 and errno. */
static int real_clock_gettime(clockid_t clk, struct timespec *ts) {
  clock_gettime_fn f = vdso();
  if (f == 0) {
    return (int)syscall(SYS_clock_gettime, clk, ts);
  }
  /* The vDSO answers like the kernel: a negative errno, not -1. */
  int r = f(clk, ts);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

static long long monotonic_ns(void) {
  struct timespec ts;
  if (real_clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    return 0;
  }
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "[ws][+|-]digits[ws]" as a number; anything else is 0. */
static long long parse_offset(const char *b, long n) {
  long i = 0;
  while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) {
    i++;
  }
  int negative = 0;
  if (i < n && (b[i] == '+' || b[i] == '-')) {
    negative = b[i] == '-';
    i++;
  }
  long long v = 0;
  int digits = 0;
  while (i < n && b[i] >= '0' && b[i] <= '9') {
    if (++digits > MAX_DIGITS) {
      return 0;
    }
    v = v * 10 + (b[i] - '0');
    i++;
  }
  while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) {
    i++;
  }
  if (digits == 0 || i != n) {
    return 0;
  }
  return negative ? -v : v;
}

static long long read_offset(void) {
  const char *path = getenv("CLOCKSHIFT_FILE");
  if (path == 0 || *path == 0) {
    return 0;
  }
  /* A clock call must not change errno: a missing file would leave ENOENT behind. */
  int saved = errno;
  long long v = 0;
  long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[32];
    long n = 0;
    long r;
    /* A read may return less than asked; a value longer than the buffer is malformed anyway. */
    while (n < (long)sizeof buf && (r = syscall(SYS_read, fd, buf + n, sizeof buf - n)) > 0) {
      n += r;
    }
    if (n < (long)sizeof buf) {
      v = parse_offset(buf, n);
    }
    syscall(SYS_close, fd);
  }
  errno = saved;
  return v;
}

static long long current_offset(void) {
  if (!atomic_load_explicit(&loaded, memory_order_acquire)) {
    /* Until the first read is done every caller reads the file itself, so that nobody sees the
     * unshifted clock while one thread is busy reading. */
    long long v = read_offset();
    atomic_store(&offset_ms, v);
    atomic_store(&next_read_ns, monotonic_ns() + REREAD_NS);
    atomic_store_explicit(&loaded, 1, memory_order_release);
    return v;
  }
  long long now = monotonic_ns();
  long long next = atomic_load_explicit(&next_read_ns, memory_order_relaxed);
  if (now >= next
      && atomic_compare_exchange_strong(&next_read_ns, &next, now + REREAD_NS)) {
    atomic_store(&offset_ms, read_offset());
  }
  return atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

static void shift(struct timespec *ts, long long off) {
  if (off == 0) {
    return;
  }
  long long sec = (long long)ts->tv_sec + off / 1000;
  long long ns = (long long)ts->tv_nsec + (off % 1000) * 1000000LL;
  if (ns < 0) {
    ns += 1000000000LL;
    sec--;
  } else if (ns >= 1000000000LL) {
    ns -= 1000000000LL;
    sec++;
  }
  ts->tv_sec = (time_t)sec;
  ts->tv_nsec = (long)ns;
}

static int shifted_realtime(clockid_t clk, struct timespec *ts) {
  int r = real_clock_gettime(clk, ts);
  if (r == 0) {
    shift(ts, current_offset());
  }
  return r;
}

int clock_gettime(clockid_t clk, struct timespec *ts) {
  if (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE) {
    return shifted_realtime(clk, ts);
  }
  return real_clock_gettime(clk, ts);
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  if (tz != 0) {
    /* The obsolete time zone argument: the kernel's answer, unshifted. */
    if (syscall(SYS_gettimeofday, 0, tz) != 0) {
      return -1;
    }
  }
  if (tv != 0) {
    struct timespec ts;
    if (shifted_realtime(CLOCK_REALTIME, &ts) != 0) {
      return -1;
    }
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return 0;
}

time_t time(time_t *out) {
  struct timespec ts;
  if (shifted_realtime(CLOCK_REALTIME, &ts) != 0) {
    return (time_t)-1;
  }
  if (out != 0) {
    *out = ts.tv_sec;
  }
  return ts.tv_sec;
}
