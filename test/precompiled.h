// The test sources' precompiled headers: the product's (pkg/base/precompiled.h) and GoogleTest's.
// Force-included into every C++ source of a target under test/ that links GoogleTest, but the
// fuzz targets (CMakeLists.txt, sigshim_precompile_headers); never included by hand.
#ifndef SIGSHIM_TEST_PRECOMPILED_H_
#define SIGSHIM_TEST_PRECOMPILED_H_

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/precompiled.h"

#endif  // SIGSHIM_TEST_PRECOMPILED_H_
