-- wrk script: POST /api/v1/search/image with the picture in BENCH_IMAGE (multipart fields
-- `k`=10 and `image`). BENCH_IMAGE_MODE=miss (default) makes every upload a new picture to the
-- server: a JPEG comment segment with a unique tag is inserted after the SOI marker, so the
-- content hash differs and the query-picture cache cannot answer (the pixels are the same, so
-- decode + encode cost is unchanged). BENCH_IMAGE_MODE=hit sends the same bytes every time
-- (the cache answers: a repeated shared picture).
package.path = package.path .. ";bench/query/?.lua"
require "common"

local path = os.getenv("BENCH_IMAGE") or "bench/tmp/query-1mp.jpg"
local f = assert(io.open(path, "rb"))
local data = f:read("*all")
f:close()
local mode = os.getenv("BENCH_IMAGE_MODE") or "miss"
local boundary = "----shihuabench7d1f0c"
local headers = { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }

local function body_for(jpeg)
   return "--" .. boundary .. "\r\n"
      .. 'Content-Disposition: form-data; name="k"\r\n\r\n10\r\n'
      .. "--" .. boundary .. "\r\n"
      .. 'Content-Disposition: form-data; name="image"; filename="query.jpg"\r\n'
      .. "Content-Type: image/jpeg\r\n\r\n" .. jpeg .. "\r\n"
      .. "--" .. boundary .. "--\r\n"
end

local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

local counter = 0
function request()
   local jpeg = data
   if mode ~= "hit" then
      counter = counter + 1
      local tag = string.format("shihua-bench-%d-%d", tid or 0, counter)
      local len = #tag + 2
      jpeg = data:sub(1, 2) .. "\255\254" .. string.char(math.floor(len / 256), len % 256)
         .. tag .. data:sub(3)
   end
   return wrk.format("POST", "/api/v1/search/image", headers, body_for(jpeg))
end

done = json_done
