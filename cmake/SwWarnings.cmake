# Warnings for all slipway code. -Werror is on unless SW_WERROR=OFF.
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wformat=2 -Wno-unused-parameter -Wvla)
if(SW_WERROR)
  add_compile_options(-Werror)
endif()
