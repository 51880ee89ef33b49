# The rooms of the source tree: the library each builds into and the rooms each may use.
# docs/ARCHITECTURE.md draws this table. The build enforces it twice:
#  - before compiling, this file runs as a script (cmake -DFMP_ROOT=... -P cmake/rooms.cmake) over
#    app/ and core/: an #include from a room its user may not use, a window header (ImGui, GLFW)
#    outside app/gui, or a source file in no room stops the build with one line per offence;
#  - every library is also linked alone, as a whole archive, against only the libraries of the
#    rooms it may use (fmp_add_rooms below), so a call into a forbidden room fails to link.
cmake_policy(VERSION 3.24)  # also when run as a script (if(IN_LIST), file(CONFIGURE))

# room | library | the rooms it may use besides itself ("core" stands for every room in core/)
set(FMP_ROOMS
    "core/base      | fmp_core    | "
    "core/data      | fmp_core    | core/base"
    "core/flow      | fmp_core    | core/base"
    "core/metrics   | fmp_core    | core/base core/flow"
    "core/nn        | fmp_core    | core/base core/data core/flow"
    "core/engine    | fmp_core    | core/base core/data core/flow core/nn"
    "core/engine/gl | fmp_core_gl | core/base core/data core/flow core/nn core/engine"
    "core/instruments | fmp_core | core/base core/data core/flow core/metrics core/nn core/engine"
    "app/run        | fmp_run     | core"
    "app/render     | fmp_render  | core"
    "app/export     | fmp_export  | core app/run app/render"
    "app/session    | fmp_session | core app/run app/render app/export"
    "app/lesson     | fmp_lesson  | core app/run app/render app/export"
    "app/cli        | fmp_cli     | core app/run app/render app/export app/session app/lesson"
    "app/gui        | fmp_gui     | core app/run app/render app/export app/session app/lesson"
    "app/main.cpp   | fmplay      | core app/cli app/gui")
# The only rooms that may include ImGui or GLFW headers (the rest of the app draws through GL and
# the scene renderer, so exports and the CLI run without a window).
set(FMP_WINDOW_ROOMS app/gui app/main.cpp)

# Splits the table into FMP_ROOM_NAMES and, per room R, FMP_ROOM_LIBRARY_<R> / FMP_ROOM_USES_<R>
# (R with / and . replaced by _).
macro(fmp_read_rooms)
    set(FMP_ROOM_NAMES "")
    foreach(row IN LISTS FMP_ROOMS)
        string(REPLACE "|" ";" cells "${row}")
        list(GET cells 0 room)
        list(GET cells 1 library)
        list(GET cells 2 uses)
        string(STRIP "${room}" room)
        string(STRIP "${library}" library)
        string(STRIP "${uses}" uses)
        string(REGEX REPLACE " +" ";" uses "${uses}")
        string(MAKE_C_IDENTIFIER "${room}" key)
        list(APPEND FMP_ROOM_NAMES "${room}")
        set(FMP_ROOM_LIBRARY_${key} "${library}")
        set(FMP_ROOM_USES_${key} "${uses}")
    endforeach()
endmacro()

# The room of a path relative to the root (the longest room that is the path or a folder above
# it), or "" when it is in none.
function(fmp_room_of path out)
    set(best "")
    foreach(room IN LISTS FMP_ROOM_NAMES)
        string(LENGTH "${room}" n)
        string(LENGTH "${best}" best_n)
        if((path STREQUAL room OR path MATCHES "^${room}/") AND n GREATER best_n)
            set(best "${room}")
        endif()
    endforeach()
    set(${out} "${best}" PARENT_SCOPE)
endfunction()

# True when room `from` may include or link room `to`.
function(fmp_room_may_use from to out)
    string(MAKE_C_IDENTIFIER "${from}" key)
    set(ok FALSE)
    if(from STREQUAL to)
        set(ok TRUE)
    endif()
    foreach(use IN LISTS FMP_ROOM_USES_${key})
        if(use STREQUAL to OR (use STREQUAL "core" AND to MATCHES "^core/"))
            set(ok TRUE)
        endif()
    endforeach()
    set(${out} ${ok} PARENT_SCOPE)
endfunction()

# Every source and header under app/ and core/, relative to root. In a configure run a file added
# or removed later re-runs CMake, so it lands in its room's library.
function(fmp_room_sources root out)
    set(configure_depends CONFIGURE_DEPENDS)
    if(CMAKE_SCRIPT_MODE_FILE)
        set(configure_depends "")
    endif()
    file(GLOB_RECURSE files ${configure_depends} RELATIVE "${root}" "${root}/app/*.h"
         "${root}/app/*.cpp" "${root}/core/*.h" "${root}/core/*.cpp")
    list(SORT files)
    set(${out} "${files}" PARENT_SCOPE)
endfunction()

# Reads every file's includes and reports each one that crosses rooms the wrong way.
function(fmp_check_rooms root)
    fmp_read_rooms()
    fmp_room_sources("${root}" files)
    set(offences 0)
    foreach(file IN LISTS files)
        fmp_room_of("${file}" room)
        if(room STREQUAL "")
            message("rooms: ${file} is in no room: move it into one (docs/ARCHITECTURE.md, "
                    "'where to add')")
            math(EXPR offences "${offences} + 1")
            continue()
        endif()
        file(STRINGS "${root}/${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
        foreach(line IN LISTS lines)
            if(line MATCHES "#[ \t]*include[ \t]*\"((app|core)/[^\"]+)\"")
                set(included "${CMAKE_MATCH_1}")
                fmp_room_of("${included}" to)
                if(to STREQUAL "")
                    set(to "${included}")
                endif()
                fmp_room_may_use("${room}" "${to}" ok)
                if(NOT ok)
                    message("rooms: ${file} includes ${included}: ${room} may not use ${to} "
                            "(docs/ARCHITECTURE.md)")
                    math(EXPR offences "${offences} + 1")
                endif()
            elseif(line MATCHES "#[ \t]*include[ \t]*<((imgui|GLFW/|backends/imgui)[^>]*)>")
                if(NOT room IN_LIST FMP_WINDOW_ROOMS)
                    message("rooms: ${file} includes <${CMAKE_MATCH_1}>: window code belongs in "
                            "app/gui (docs/ARCHITECTURE.md)")
                    math(EXPR offences "${offences} + 1")
                endif()
            endif()
        endforeach()
    endforeach()
    if(offences GREATER 0)
        message(FATAL_ERROR "rooms: ${offences} dependency offence(s) against cmake/rooms.cmake")
    endif()
endfunction()

# Creates the static library of each room library (its sources: the .cpp files of its rooms) and
# the fmplay program, links each to the libraries of the rooms it may use, adds a link check per
# library, and runs the include check before anything compiles. External dependencies are added
# by the caller (CMakeLists.txt) per library.
function(fmp_add_rooms)
    fmp_read_rooms()
    fmp_room_sources("${CMAKE_SOURCE_DIR}" files)
    set(libraries "")
    foreach(room IN LISTS FMP_ROOM_NAMES)
        string(MAKE_C_IDENTIFIER "${room}" key)
        list(APPEND libraries ${FMP_ROOM_LIBRARY_${key}})
    endforeach()
    list(REMOVE_DUPLICATES libraries)

    set(stamp "${CMAKE_BINARY_DIR}/rooms_checked.stamp")
    set(all_files "")
    foreach(file IN LISTS files)
        list(APPEND all_files "${CMAKE_SOURCE_DIR}/${file}")
    endforeach()
    add_custom_command(
        OUTPUT "${stamp}"
        COMMAND "${CMAKE_COMMAND}" "-DFMP_ROOT=${CMAKE_SOURCE_DIR}" -P "${CMAKE_SOURCE_DIR}/cmake/rooms.cmake"
        COMMAND "${CMAKE_COMMAND}" -E touch "${stamp}"
        DEPENDS "${CMAKE_SOURCE_DIR}/cmake/rooms.cmake" ${all_files}
        COMMENT "Checking that each room includes only the rooms it may use"
        VERBATIM)
    add_custom_target(fmp_rooms_check DEPENDS "${stamp}")
    file(CONFIGURE OUTPUT "${CMAKE_BINARY_DIR}/link_check_main.cpp"
         CONTENT "// Links one room library alone: an undefined symbol is a forbidden dependency.\nint main() { return 0; }\n")

    foreach(library IN LISTS libraries)
        set(sources "")
        set(deps "")
        foreach(file IN LISTS files)
            fmp_room_of("${file}" room)
            string(MAKE_C_IDENTIFIER "${room}" key)
            if(file MATCHES "\\.cpp$" AND FMP_ROOM_LIBRARY_${key} STREQUAL library)
                list(APPEND sources "${CMAKE_SOURCE_DIR}/${file}")
            endif()
        endforeach()
        foreach(room IN LISTS FMP_ROOM_NAMES)
            string(MAKE_C_IDENTIFIER "${room}" key)
            if(NOT FMP_ROOM_LIBRARY_${key} STREQUAL library)
                continue()
            endif()
            foreach(other IN LISTS FMP_ROOM_NAMES)
                string(MAKE_C_IDENTIFIER "${other}" other_key)
                fmp_room_may_use("${room}" "${other}" ok)
                if(ok AND NOT FMP_ROOM_LIBRARY_${other_key} STREQUAL library)
                    list(APPEND deps ${FMP_ROOM_LIBRARY_${other_key}})
                endif()
            endforeach()
        endforeach()
        list(REMOVE_DUPLICATES deps)
        if(library STREQUAL "fmplay")  # the program itself: main.cpp on top of the rooms
            add_executable(${library} ${sources})
            target_link_libraries(${library} PRIVATE ${deps})
            add_dependencies(${library} fmp_rooms_check)
            continue()
        endif()
        add_library(${library} STATIC ${sources})
        target_include_directories(${library} PUBLIC "${CMAKE_SOURCE_DIR}")
        target_link_libraries(${library} PUBLIC ${deps})
        add_dependencies(${library} fmp_rooms_check)
        add_executable(${library}_link_check "${CMAKE_BINARY_DIR}/link_check_main.cpp")
        target_link_libraries(${library}_link_check PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${library}>")
    endforeach()
endfunction()

# Run as a script: check the includes of the tree at FMP_ROOT.
if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    if(NOT FMP_ROOT)
        message(FATAL_ERROR "usage: cmake -DFMP_ROOT=<source tree> -P cmake/rooms.cmake")
    endif()
    fmp_check_rooms("${FMP_ROOT}")
endif()
