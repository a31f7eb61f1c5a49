"""CRC-32 (the zlib / IEEE 802.3 polynomial) for checksums computed in C."""

from libc.stdint cimport uint32_t


cdef uint32_t crc32_update(uint32_t crc, const unsigned char* data, size_t length) noexcept nogil
