/*
 * close_gracefully.c - lesson 07's lingering close, for the lessons after it.
 *
 * In a file of its own: lesson 07's solution defines close_gracefully()
 * itself, and the linker then takes that one and never this (an archive
 * member is linked only for a symbol still undefined).
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "kit.h"

#include <sys/socket.h>
#include <unistd.h>

void close_gracefully(int fd)
{
    shutdown(fd, SHUT_WR);      /* our FIN, after all we wrote */
    long long deadline = deadline_in(LINGER_MS);
    char sink[16384];
    while (read_by(fd, sink, sizeof sink, deadline) > 0)
        ;                       /* discard: we will not answer it */
    close(fd);                  /* at EOF nothing is left unread: no RST */
}
