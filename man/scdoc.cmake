# SPDX-License-Identifier: Apache-2.0
# cmake -DSCDOC=scdoc -DIN=page.scd -DOUT=page -P scdoc.cmake
# scdoc reads standard input and writes standard output; a failed run
# leaves no output file behind.
execute_process(COMMAND ${SCDOC}
	INPUT_FILE ${IN} OUTPUT_FILE ${OUT}.tmp
	RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
	file(REMOVE ${OUT}.tmp)
	message(FATAL_ERROR "scdoc ${IN}: ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
