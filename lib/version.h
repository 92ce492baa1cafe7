/* version: the bds version, part of every fingerprint and store entry, and what every
 * program's --version prints. BDS_VERSION comes from bds-version.h, which the build
 * writes from scripts/version (the VERSION file, plus the commit in a git checkout). */
#ifndef BDS_VERSION_H
#define BDS_VERSION_H

#include "bds-version.h"

#endif
