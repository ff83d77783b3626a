// tailor/version.hpp: the library version (kept in step with CMakeLists.txt's project()).
#pragma once

#define TAILOR_VERSION_MAJOR 0
#define TAILOR_VERSION_MINOR 1
#define TAILOR_VERSION_PATCH 0
#define TAILOR_VERSION_STRING "0.1.0"
