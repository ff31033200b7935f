-- In the PDF, a paragraph that announces code (it ends with a colon and a code block or a code cell follows it)
-- stays on the page of that code, a chapter's opening paragraph on the page of what follows it, and a cell's code stays on the page of what it prints: Typst never breaks
-- between a `sticky` block and the block after it.
if not quarto.doc.is_format("typst") then
  return {}
end

local function announces(block)
  if block.t ~= "Para" or #block.content == 0 then
    return false
  end
  local last = block.content[#block.content]
  return last.t == "Str" and last.text:sub(-1) == ":"
end

local function is_code(block)
  return block ~= nil and (block.t == "CodeBlock" or (block.t == "Div" and block.classes:includes("cell")))
end

local function sticky(block)
  return pandoc.Blocks({pandoc.RawBlock("typst", "#block(sticky: true)["), block, pandoc.RawBlock("typst", "]")})
end

local function is_printed(block)
  return block ~= nil and block.t == "Div" and block.classes:includes("cell-output-stdout")
end

function Div(div)
  if not div.classes:includes("cell") then
    return nil
  end
  local kept = pandoc.Blocks({})
  for i, block in ipairs(div.content) do
    if block.t == "CodeBlock" and is_printed(div.content[i + 1]) then
      kept:extend(sticky(block))
    else
      kept:insert(block)
    end
  end
  div.content = kept
  return div
end

local function opens_chapter(block, before)
  return block.t == "Para" and before ~= nil and before.t == "Header" and before.level == 1
end

function Blocks(blocks)
  local kept = pandoc.Blocks({})
  for i, block in ipairs(blocks) do
    -- a chapter's opening paragraph stays with what follows (its title is never left with one sentence)
    if (announces(block) and is_code(blocks[i + 1])) or opens_chapter(block, blocks[i - 1]) then
      kept:extend(sticky(block))
    else
      kept:insert(block)
    end
  end
  return kept
end
