# SPDX-License-Identifier: Apache-2.0
# Warnings and hardening flags, each probed so an older compiler still builds.
include(CheckCCompilerFlag)

set(ESMPI_WARN_FLAGS -Wall -Wextra -Wformat=2 -Wformat-security
	-Wimplicit-fallthrough -Wshadow -Wpointer-arith -Wstrict-prototypes
	-Wmissing-prototypes -Wno-unused-parameter)
foreach(flag ${ESMPI_WARN_FLAGS})
	# C only: the Fortran examples get their own -Wall.
	add_compile_options($<$<COMPILE_LANGUAGE:C>:${flag}>)
endforeach()
if(ESMPI_WERROR)
	add_compile_options(-Werror)
endif()

foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection
		-ftrivial-auto-var-init=zero -fno-strict-overflow)
	string(MAKE_C_IDENTIFIER "HAVE${flag}" var)
	check_c_compiler_flag(${flag} ${var})
	if(${var})
		add_compile_options(${flag})
	endif()
endforeach()

if(ESMPI_SANITIZE)
	add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
		-fno-sanitize-recover=undefined)
	add_link_options(-fsanitize=address,undefined)
elseif(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
	# FORTIFY needs optimisation and clashes with ASan.
	add_compile_definitions(_FORTIFY_SOURCE=2)
endif()

add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
