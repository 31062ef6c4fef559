/*
 * A test-only bcryptprimitives.dll for running dropsync.exe under Debian's
 * wine 8, which lacks ProcessPrng: Go 1.22 and later take all their
 * randomness from it and stop at start without it. It fills the buffer
 * from RtlGenRandom (advapi32's SystemFunction036), which wine has. Never
 * shipped: real Windows 10 and later have the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
