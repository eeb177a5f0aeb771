/* glibc's fortified fprintf, which Debian's LLVM libunwind.a (built against glibc)
 * calls for its debug logging; musl has no _chk functions. Linked into that archive
 * for x86_64-unknown-linux-musl by .ci/cross. */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...) {
    (void)flag;
    va_list args;
    va_start(args, format);
    int written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}
