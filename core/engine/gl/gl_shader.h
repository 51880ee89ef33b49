// Shader programs built from the embedded shaders/ files; compile errors quote the numbered source.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fmp {

// Name/value pairs inserted as "#define NAME VALUE" right after the #version line.
using ShaderDefines = std::vector<std::pair<std::string, std::string>>;

// The source of an embedded shader with its defines inserted and every
// `#include "file.glsl"` line replaced by that embedded file (GLSL core has no includes).
std::string assemble_shader_source(const std::string& name, const ShaderDefines& defines);

// "   1: first line\n   2: ..." for error messages.
std::string number_source_lines(const std::string& source);

// One shader stage compiled from source; throws std::runtime_error with the driver's log and the
// numbered source if it fails. `label` names it in the message.
unsigned compile_shader_stage(unsigned type, const std::string& source, const std::string& label);
// Links the stages (and deletes them); throws with the driver's log if linking fails.
unsigned link_shader_program(const std::vector<unsigned>& stages, const std::string& label);

// A linked compute program. Compile or link failures throw std::runtime_error whose message
// holds the driver's log and the numbered source.
class ComputeProgram {
  public:
    ComputeProgram() = default;
    ComputeProgram(const std::string& name, const ShaderDefines& defines);
    // A program from source text; `label` names it in error messages.
    static ComputeProgram from_source(const std::string& label, const std::string& source);
    ~ComputeProgram();
    ComputeProgram(ComputeProgram&& other) noexcept;
    ComputeProgram& operator=(ComputeProgram&& other) noexcept;
    ComputeProgram(const ComputeProgram&) = delete;
    ComputeProgram& operator=(const ComputeProgram&) = delete;

    unsigned id() const { return m_program; }
    bool valid() const { return m_program != 0; }
    void use() const;
    // Uniform setters on the current program (call use() first); unknown names are ignored so
    // that a uniform the compiler optimised away is not an error.
    void set(const char* name, int v);
    void set(const char* name, unsigned v);
    void set(const char* name, float v);
    void set(const char* name, float x, float y);
    void set(const char* name, unsigned x, unsigned y);

  private:
    void compile(const std::string& source);
    int location(const char* name);
    unsigned m_program = 0;
    std::string m_name;
    std::unordered_map<std::string, int> m_locations;
};

}  // namespace fmp
