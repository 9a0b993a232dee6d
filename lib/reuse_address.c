/*
 * reuse_address.c - lesson 08's fix, for the lessons after it.
 *
 * In a file of its own: lesson 08's solution defines reuse_address() itself,
 * and the linker then takes that one and never this (an archive member is
 * linked only for a symbol still undefined).
 */
#include "kit.h"

#include <sys/socket.h>

void reuse_address(int listen_fd)
{
    int on = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}
