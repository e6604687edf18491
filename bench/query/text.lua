-- wrk script: GET /api/v1/search?q=<poem line>&k=10.
-- BENCH_TEXT_MODE=miss (default): every request a text never seen before (a poem line plus a
-- per-thread counter), so the text-embedding cache never hits: the model runs every time.
-- BENCH_TEXT_MODE=hit: always the same line (what the LRU cache of text embeddings serves).
package.path = package.path .. ";bench/query/?.lua"
require "common"

local lines = {
   "枯藤老树昏鸦", "小桥流水人家", "古道西风瘦马", "夕阳西下", "断肠人在天涯",
   "床前明月光", "疑是地上霜", "举头望明月", "低头思故乡", "大漠孤烟直",
   "长河落日圆", "春眠不觉晓", "处处闻啼鸟", "白日依山尽", "黄河入海流",
   "欲穷千里目", "更上一层楼", "千山鸟飞绝", "万径人踪灭", "孤舟蓑笠翁",
   "独钓寒江雪", "野旷天低树", "江清月近人", "两个黄鹂鸣翠柳", "一行白鹭上青天",
}

local function urlencode(s)
   return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local counter = 0
local tid = 0
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("tid", next_id)
end

local mode = os.getenv("BENCH_TEXT_MODE") or "miss"

function request()
   counter = counter + 1
   local q
   if mode == "hit" then
      q = lines[1]
   else
      q = lines[(counter % #lines) + 1] .. " " .. tid .. "-" .. counter
   end
   return wrk.format("GET", "/api/v1/search?k=10&q=" .. urlencode(q))
end

done = json_done
