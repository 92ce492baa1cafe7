/* version: the bds version, part of every fingerprint and store entry. */
#ifndef BDS_VERSION_H
#define BDS_VERSION_H

#define BDS_VERSION "0.1.0"

#endif
