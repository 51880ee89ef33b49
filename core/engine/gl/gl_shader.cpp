// Compute programs from embedded shader files: defines, includes, and numbered-source errors.
#include "core/engine/gl/gl_shader.h"

#include <glad/gl.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "core/base/resources.h"

namespace fmp {

static std::string embedded_text(const std::string& name) {
    auto data = embedded_file(name);
    if (!data) throw std::runtime_error("shader file '" + name + "' is not embedded in the binary");
    return std::string(*data);
}

static std::string resolve_includes(const std::string& source, int depth) {
    if (depth > 8) throw std::runtime_error("shader #include nesting too deep");
    std::istringstream in(source);
    std::string line, out;
    while (std::getline(in, line)) {
        auto first = line.find_first_not_of(" \t");
        if (first != std::string::npos && line.compare(first, 8, "#include") == 0) {
            auto a = line.find('"'), b = line.rfind('"');
            if (a == std::string::npos || b <= a)
                throw std::runtime_error("malformed shader include: " + line);
            out += resolve_includes(embedded_text(line.substr(a + 1, b - a - 1)), depth + 1);
        } else {
            out += line;
            out += '\n';
        }
    }
    return out;
}

std::string assemble_shader_source(const std::string& name, const ShaderDefines& defines) {
    std::string src = resolve_includes(embedded_text(name), 0);
    std::string header;
    for (const auto& [k, v] : defines) header += "#define " + k + " " + v + "\n";
    // The #version line must stay first.
    auto pos = src.find("#version");
    if (pos == std::string::npos) return "#version 430\n" + header + src;
    auto eol = src.find('\n', pos);
    return src.substr(0, eol + 1) + header + src.substr(eol + 1);
}

std::string number_source_lines(const std::string& source) {
    std::istringstream in(source);
    std::string line, out;
    int n = 1;
    char num[16];
    while (std::getline(in, line)) {
        std::snprintf(num, sizeof num, "%4d: ", n++);
        out += num + line + "\n";
    }
    return out;
}

ComputeProgram::ComputeProgram(const std::string& name, const ShaderDefines& defines)
    : m_name(name) {
    compile(assemble_shader_source(name, defines));
}

ComputeProgram ComputeProgram::from_source(const std::string& label, const std::string& source) {
    ComputeProgram p;
    p.m_name = label;
    p.compile(source);
    return p;
}

namespace {

std::string info_log(GLuint obj, bool is_shader) {
    GLint len = 0;
    if (is_shader) glGetShaderiv(obj, GL_INFO_LOG_LENGTH, &len);
    else glGetProgramiv(obj, GL_INFO_LOG_LENGTH, &len);
    std::string log(static_cast<size_t>(std::max(len, 1)), '\0');
    if (is_shader) glGetShaderInfoLog(obj, len, nullptr, log.data());
    else glGetProgramInfoLog(obj, len, nullptr, log.data());
    return std::string(log.c_str());  // drop the trailing zeros
}

}  // namespace

unsigned compile_shader_stage(unsigned type, const std::string& source, const std::string& label) {
    GLuint shader = glCreateShader(type);
    const char* text = source.c_str();
    glShaderSource(shader, 1, &text, nullptr);
    glCompileShader(shader);
    GLint ok = 0;
    glGetShaderiv(shader, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        std::string log = info_log(shader, true);
        glDeleteShader(shader);
        throw std::runtime_error("shader '" + label + "' failed to compile:\n" + log +
                                 "\n--- source ---\n" + number_source_lines(source));
    }
    return shader;
}

unsigned link_shader_program(const std::vector<unsigned>& stages, const std::string& label) {
    GLuint program = glCreateProgram();
    for (unsigned s : stages) glAttachShader(program, s);
    glLinkProgram(program);
    for (unsigned s : stages) glDeleteShader(s);
    GLint ok = 0;
    glGetProgramiv(program, GL_LINK_STATUS, &ok);
    if (!ok) {
        std::string log = info_log(program, false);
        glDeleteProgram(program);
        throw std::runtime_error("shader program '" + label + "' failed to link:\n" + log);
    }
    return program;
}

void ComputeProgram::compile(const std::string& source) {
    GLuint shader = compile_shader_stage(GL_COMPUTE_SHADER, source, m_name);
    try {
        m_program = link_shader_program({shader}, m_name);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(std::string(e.what()) + "\n--- source ---\n" + number_source_lines(source));
    }
}

ComputeProgram::~ComputeProgram() {
    if (m_program && glad_glDeleteProgram) glDeleteProgram(m_program);
}

ComputeProgram::ComputeProgram(ComputeProgram&& other) noexcept
    : m_program(other.m_program),
      m_name(std::move(other.m_name)),
      m_locations(std::move(other.m_locations)) {
    other.m_program = 0;
}

ComputeProgram& ComputeProgram::operator=(ComputeProgram&& other) noexcept {
    if (this != &other) {
        if (m_program) glDeleteProgram(m_program);
        m_program = other.m_program;
        m_name = std::move(other.m_name);
        m_locations = std::move(other.m_locations);
        other.m_program = 0;
    }
    return *this;
}

void ComputeProgram::use() const {
    glUseProgram(m_program);
}

int ComputeProgram::location(const char* name) {
    auto it = m_locations.find(name);
    if (it != m_locations.end()) return it->second;
    int loc = glGetUniformLocation(m_program, name);
    m_locations.emplace(name, loc);
    return loc;
}

void ComputeProgram::set(const char* name, int v) {
    glUniform1i(location(name), v);
}
void ComputeProgram::set(const char* name, unsigned v) {
    glUniform1ui(location(name), v);
}
void ComputeProgram::set(const char* name, float v) {
    glUniform1f(location(name), v);
}
void ComputeProgram::set(const char* name, float x, float y) {
    glUniform2f(location(name), x, y);
}
void ComputeProgram::set(const char* name, unsigned x, unsigned y) {
    glUniform2ui(location(name), x, y);
}

}  // namespace fmp
