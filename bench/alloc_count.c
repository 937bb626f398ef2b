// An LD_PRELOAD allocation counter for bench/metrics.sh (not part of kcr):
// every malloc-family call of the process adds to four 64-bit counters in
// a shared file (KCR_ALLOC_COUNT_FILE, 32 bytes), which the bench reads
// while the process runs: allocation calls, bytes requested, frees, and
// bytes live (usable sizes allocated minus freed). glibc's __libc_*
// entry points do the work, so nothing here recurses or needs dlsym.
// The variables are removed from the environment at load, so children
// (monitors, CNI plugins) are not counted.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

struct counters {
  uint64_t calls, bytes, frees;
  int64_t live;
};
static struct counters* c;

__attribute__((constructor)) static void init(void) {
  const char* path = getenv("KCR_ALLOC_COUNT_FILE");
  if (path) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && ftruncate(fd, sizeof(struct counters)) == 0) {
      void* m = mmap(NULL, sizeof(struct counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (m != MAP_FAILED) c = m;
    }
    if (fd >= 0) close(fd);
  }
  unsetenv("KCR_ALLOC_COUNT_FILE");
  unsetenv("LD_PRELOAD");
}

static void* counted(void* p, size_t n) {
  if (p && c) {
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->bytes, n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->live, (int64_t)malloc_usable_size(p), __ATOMIC_RELAXED);
  }
  return p;
}

static void uncount(void* p) {
  if (p && c) {
    __atomic_add_fetch(&c->frees, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&c->live, (int64_t)malloc_usable_size(p), __ATOMIC_RELAXED);
  }
}

void* malloc(size_t n) { return counted(__libc_malloc(n), n); }
void* calloc(size_t k, size_t n) { return counted(__libc_calloc(k, n), k * n); }
void free(void* p) {
  uncount(p);
  __libc_free(p);
}
void* realloc(void* p, size_t n) {
  uncount(p);
  return counted(__libc_realloc(p, n), n);
}
void* memalign(size_t a, size_t n) { return counted(__libc_memalign(a, n), n); }
void* aligned_alloc(size_t a, size_t n) { return counted(__libc_memalign(a, n), n); }
int posix_memalign(void** out, size_t a, size_t n) {
  void* p = counted(__libc_memalign(a, n), n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(size_t n) { return counted(__libc_memalign((size_t)sysconf(_SC_PAGESIZE), n), n); }
