-- In the PDF, a diff block shows its removed lines in red and its added lines in green, as in the HTML:
-- Skylighting's diff syntax colours them with the theme's string and variable colours (green and black), which
-- read as the opposite. The block keeps Skylighting's frame (the `Skylighting` function of Quarto's template).
if not quarto.doc.is_format("typst") then
  return {}
end

local COLOURS = {["-"] = "#ad0000", ["+"] = "#20794d", ["@"] = "#5e5e5e"}

local function typst_string(text)
  return '"' .. text:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
end

local function line(text)
  local colour = COLOURS[text:sub(1, 1)] or "#003b4f"
  return string.format('[#text(fill: rgb("%s"), raw(%s))]', colour, typst_string(text))
end

function CodeBlock(block)
  if not block.classes:includes("diff") then
    return nil
  end
  local lines = {}
  for text in (block.text .. "\n"):gmatch("(.-)\n") do
    table.insert(lines, line(text))
  end
  return pandoc.RawBlock("typst", "#Skylighting((" .. table.concat(lines, ",\n") .. ",));")
end
