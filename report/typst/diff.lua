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

-- A diff is cut into its hunks (each from its « ... » line): a hunk of a few lines is never split across two
-- pages, so that a long diff breaks between two hunks and never leaves a line or two of its end alone at the top
-- of the next page (5.2's diff and chapter 6's VGG diff did). Lines are separated as Skylighting separates them.
local SHORT_HUNK = 8

local function hunk(texts)
  local lines = {}
  for _, text in ipairs(texts) do
    table.insert(lines, line(text))
  end
  local breakable = #texts > SHORT_HUNK and "true" or "false"
  return string.format("block(breakable: %s, spacing: par.leading, (%s,).join(EndLine()))", breakable,
    table.concat(lines, ",\n"))
end

function CodeBlock(block)
  if not block.classes:includes("diff") then
    return nil
  end
  local hunks, current = {}, {}
  for text in (block.text .. "\n"):gmatch("(.-)\n") do
    if text == "..." and #current > 0 then
      table.insert(hunks, hunk(current))
      current = {}
    end
    table.insert(current, text)
  end
  table.insert(hunks, hunk(current))
  -- Skylighting's frame (the `Skylighting` function of Quarto's template), around the hunks
  return pandoc.RawBlock("typst", '#block(fill: rgb("#f1f3f5"), width: 100%, inset: 8pt, radius: 2pt, context {\n'
    .. table.concat(hunks, "\n") .. "\n})")
end
