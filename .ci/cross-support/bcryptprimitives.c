/* ProcessPrng, which Rust's standard library (1.78 and later) imports from
 * bcryptprimitives.dll for its random numbers (HashMap seeds). Wine 8.0 has no such
 * DLL: .ci/cross builds this one with mingw-w64 and copies it into the Wine prefix,
 * implemented with bcrypt's BCryptGenRandom, which Wine has. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
