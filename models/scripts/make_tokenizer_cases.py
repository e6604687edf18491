#!/usr/bin/env python3
"""Write models/testdata/tokenizer_cases.json: texts with cn_clip's reference ids.

Each case is {"text": ..., "ids": [52 ints]}, the ids being exactly what
cn_clip.clip.tokenize(text, context_length=52) returns (computed with cn_clip's
own FullTokenizer, loaded without torch; see cnclip_ref.py).  The script then
loads models/tokenizer.json with the Python `tokenizers` library and checks
that it yields identical ids for every case (exit status 1 otherwise).

Two rare kinds of input are tokenised differently by tokenizers' BertNormalizer
and cn_clip (a word-final capital sigma; private-use/unassigned code points):
those are listed in KNOWN_DIFFERENCES and written to
tokenizer_known_differences.json instead, with both id lists.

Usage: python models/scripts/make_tokenizer_cases.py
"""

import json
import os
import sys

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnclip_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
OUT = os.path.join(MODELS, "testdata", "tokenizer_cases.json")
OUT_DIFF = os.path.join(MODELS, "testdata", "tokenizer_known_differences.json")
TOKENIZER = os.path.join(MODELS, "tokenizer.json")

# Lines of classical poetry (Tang, Song, Yuan), one per case.
POEM_LINES = """
天净沙·秋思
枯藤老树昏鸦
小桥流水人家
古道西风瘦马
夕阳西下
断肠人在天涯
床前明月光
疑是地上霜
举头望明月
低头思故乡
春眠不觉晓
处处闻啼鸟
夜来风雨声
花落知多少
白日依山尽
黄河入海流
欲穷千里目
更上一层楼
千山鸟飞绝
万径人踪灭
孤舟蓑笠翁
独钓寒江雪
红豆生南国
春来发几枝
愿君多采撷
此物最相思
空山不见人
但闻人语响
返景入深林
复照青苔上
日照香炉生紫烟
遥看瀑布挂前川
飞流直下三千尺
疑是银河落九天
朝辞白帝彩云间
千里江陵一日还
两岸猿声啼不住
轻舟已过万重山
故人西辞黄鹤楼
烟花三月下扬州
孤帆远影碧空尽
唯见长江天际流
国破山河在
城春草木深
感时花溅泪
恨别鸟惊心
烽火连三月
家书抵万金
白头搔更短
浑欲不胜簪
两个黄鹂鸣翠柳
一行白鹭上青天
窗含西岭千秋雪
门泊东吴万里船
月落乌啼霜满天
江枫渔火对愁眠
姑苏城外寒山寺
夜半钟声到客船
远上寒山石径斜
白云生处有人家
停车坐爱枫林晚
霜叶红于二月花
清明时节雨纷纷
路上行人欲断魂
借问酒家何处有
牧童遥指杏花村
千里莺啼绿映红
水村山郭酒旗风
南朝四百八十寺
多少楼台烟雨中
离离原上草
一岁一枯荣
野火烧不尽
春风吹又生
碧玉妆成一树高
万条垂下绿丝绦
不知细叶谁裁出
二月春风似剪刀
少小离家老大回
乡音无改鬓毛衰
儿童相见不相识
笑问客从何处来
黄河远上白云间
一片孤城万仞山
羌笛何须怨杨柳
春风不度玉门关
秦时明月汉时关
万里长征人未还
但使龙城飞将在
不教胡马度阴山
大漠孤烟直
长河落日圆
空山新雨后
天气晚来秋
明月松间照
清泉石上流
竹喧归浣女
莲动下渔舟
渭城朝雨浥轻尘
客舍青青柳色新
劝君更尽一杯酒
西出阳关无故人
独在异乡为异客
每逢佳节倍思亲
好雨知时节
当春乃发生
随风潜入夜
润物细无声
野径云俱黑
江船火独明
无边落木萧萧下
不尽长江滚滚来
会当凌绝顶
一览众山小
水光潋滟晴方好
山色空蒙雨亦奇
欲把西湖比西子
淡妆浓抹总相宜
横看成岭侧成峰
远近高低各不同
不识庐山真面目
只缘身在此山中
竹外桃花三两枝
春江水暖鸭先知
明月几时有
把酒问青天
但愿人长久
千里共婵娟
大江东去
浪淘尽
千古风流人物
十年生死两茫茫
接天莲叶无穷碧
映日荷花别样红
泉眼无声惜细流
树阴照水爱晴柔
小荷才露尖尖角
早有蜻蜓立上头
寻寻觅觅，冷冷清清，凄凄惨惨戚戚
昨夜雨疏风骤
知否，知否？应是绿肥红瘦
春花秋月何时了
问君能有几多愁？恰似一江春水向东流
众里寻他千百度
蓦然回首，那人却在，灯火阑珊处
乱花渐欲迷人眼
浅草才能没马蹄
山重水复疑无路
柳暗花明又一村
朱雀桥边野草花
乌衣巷口夕阳斜
旧时王谢堂前燕
飞入寻常百姓家
烟笼寒水月笼沙
夜泊秦淮近酒家
春潮带雨晚来急
野渡无人舟自横
日出江花红胜火
春来江水绿如蓝
此情可待成追忆
只是当时已惘然
春蚕到死丝方尽
蜡炬成灰泪始干
夕阳无限好
只是近黄昏
墙角数枝梅
凌寒独自开
遥知不是雪
为有暗香来
春风又绿江南岸
明月何时照我还
举杯邀明月
对影成三人
君不见黄河之水天上来
奔流到海不复回
噫吁嚱，危乎高哉！蜀道之难，难于上青天！
采菊东篱下
悠然见南山
""".split()

# Plain-language photo queries a user might type.
QUERIES = """
一只猫在沙发上睡觉
海边的日落
雪山下的湖泊
秋天的枫叶
城市夜景
下雨天的街道
一碗热腾腾的面条
小狗在草地上奔跑
""".split()

TRADITIONAL = [
    "牀前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。",
    "楓橋夜泊",
    "月落烏啼霜滿天",
    "黃河遠上白雲間",
    "龍飛鳳舞",
    "龜鱉鬱齉",
    "臺灣",
]

MIXED = [
    "Hello 世界",
    "iPhone 15 Pro拍的夕阳",
    "CLIP模型 test",
    "ViT-B-16",
    "cn_clip",
    "HELLO World",
    "the quick brown fox jumps over the lazy dog",
    "photo of a cat 猫的照片",
    "Beijing北京Shanghai上海",
    "a red bicycle",
    "unaffable",
    "OpenAI's CLIP isn't Chinese-CLIP",
    "https://example.com/a?b=c&d=e#frag",
    "someone@example.com",
    "C++ / Rust / Python3.11",
    "<s>tag</s>",
    "##abc",
    "##",
    "$100 + 5% = ?",
    "a_b-c.d,e;f:g!h?i",
]

PUNCTUATION = [
    "枯藤老树昏鸦，小桥流水人家。",
    "“明月”几时有？",
    "《静夜思》——李白",
    "【测试】（括号）",
    "、；：！",
    "……",
    "「引号」『书名』",
    "〈一〉〔二〕",
    "～·！＠＃￥％……＆＊（）——＋",
    "ＡＢＣ１２３ａｂｃ",
    "天净沙·秋思",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
]

EMOJI = [
    "🌙🌸",
    "猫🐱",
    "👨‍👩‍👧 family",
    "❤️ love",
    "🇨🇳",
    "😀😃😄",
    "🏔️雪山",
    "👍🏽",
]

DIGITS = [
    "2024年10月1日",
    "3.14159",
    "１２３",
    "一九八四",
    "100%",
    "12:30",
    "007",
    "1,000,000",
    "①②③",
    "Ⅻ",
    "²³",
]

ACCENTS_AND_SCRIPTS = [
    "café",
    "naïve",
    "Ångström",
    "São Paulo",
    "Dvořák",
    "Ελληνικά",
    "ΣΟΦΙΑ ΣΤΟ",  # Σ not at a word's end: both give σ
    "οδος",
    "İstanbul",
    "straße",
    "ﬁ ligature",
    "Œuvre",
    "ǅemal",
    "Crème Brûlée",
    "e\u0301 combining acute",
    "안녕하세요",
    "こんにちは",
    "カタカナ",
    "がぎぐげご",
    "ｶﾀｶﾅ",
    "مرحبا",
    "Привет мир",
    "नमस्ते",
    "สวัสดี",
    "∑∫√∞",
    "¥￥$€£",
    "©®™",
    "⺮⼀",
    "𠀀𪚥",
    "﨑",
]

# Inputs where tokenizer.json (HF BertNormalizer) and cn_clip knowingly differ.
# They are kept out of tokenizer_cases.json and written, with both id lists, to
# tokenizer_known_differences.json.
KNOWN_DIFFERENCES = [
    # Python's str.lower() applies Unicode's Final_Sigma rule (word-final Σ -> ς);
    # HF lowercases char by char (Σ -> σ).
    ("ΟΔΟΣ", "cn_clip lowercases a word-final Σ to ς (Python str.lower Final_Sigma rule); "
             "tokenizers lowercases it to σ"),
    # HF's clean_text drops every char of category C* except Cc/Cf handling of
    # \t\n\r (so also private-use Co and unassigned Cn); cn_clip drops only Cc/Cf
    # and maps a private-use char to [UNK].
    ("\ue000private", "tokenizers' clean_text drops private-use (Co) and unassigned (Cn) "
                      "chars; cn_clip keeps them (here: [UNK] for the whole word)"),
    ("月\U000F0000光", "private-use plane 15 char: dropped by tokenizers, [UNK] in cn_clip"),
]

WHITESPACE_AND_CONTROL = [
    "",
    " ",
    "   ",
    "\t\n\r",
    "床前\t明月\n光\r\n",
    "\u3000枯藤\u3000老树",
    "\u00a0nbsp\u00a0",
    "\x00null\x01ctrl\x7fdel",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "\ufffd replacement",
    "\u2028line sep\u2029para",
    "\x0bvt\x0cff\x85nel",
    "  leading and trailing  ",
    "明\u00ad月",
]

SPECIAL_TOKEN_TEXT = [
    "[CLS]",
    "[MASK]",
    "明月[CLS]光",
    "[MASK]是什么",
    "[SEP][PAD][UNK]",
    "[cls] lower",
    "[unused1]",
]

LONG = [
    # > 52 tokens: truncation keeps the first 50 pieces, then [SEP]
    "春江潮水连海平，海上明月共潮生。滟滟随波千万里，何处春江无月明！"
    "江流宛转绕芳甸，月照花林皆似霰。空里流霜不觉飞，汀上白沙看不见。",
    "月" * 100,
    "枯藤老树昏鸦" * 10,
    "the quick brown fox jumps over the lazy dog " * 8,
    "一" * 49,  # 49 + 2 = 51 ids: fits
    "一" * 50,  # exactly 52 ids
    "一" * 51,  # one over: truncated
    "a" * 101,  # > BERT's 100 but within cn_clip's 200 chars per word
    "a" * 200,
    "a" * 201,  # > 200 chars in one word: [UNK]
    "supercalifragilisticexpialidocious",
    "天净沙·秋思 枯藤老树昏鸦，小桥流水人家，古道西风瘦马。夕阳西下，断肠人在天涯。",
]


def dumps(obj):
    """json.dumps with readable CJK/emoji but escaped invisible characters."""
    out = []
    for ch in json.dumps(obj, ensure_ascii=False):
        if ch.isprintable():
            out.append(ch)
        else:
            b = ch.encode("utf-16-be")
            out.extend("\\u%04x" % int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    return "".join(out)


def all_texts():
    texts = (
        POEM_LINES + QUERIES + TRADITIONAL + MIXED + PUNCTUATION + EMOJI + DIGITS
        + ACCENTS_AND_SCRIPTS + WHITESPACE_AND_CONTROL + SPECIAL_TOKEN_TEXT + LONG
    )
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def main():
    texts = all_texts()
    if cnclip_ref.torch_tokenize() is None:
        print("cn_clip.clip.tokenize needs torch (not installed): "
              "reference ids from cn_clip's FullTokenizer loaded by path")
    else:
        print("reference ids cross-checked with cn_clip.clip.tokenize (torch found)")
    ref = cnclip_ref.reference_ids(texts)

    cases = [{"text": t, "ids": ids} for t, ids in zip(texts, ref)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(dumps(c) for c in cases))
        f.write("\n]\n")
    n_trunc = sum(1 for ids in ref if ids[-1] != 0)
    n_unk = sum(1 for ids in ref if cnclip_ref.full_tokenizer().vocab["[UNK]"] in ids)
    print(f"wrote {OUT}: {len(cases)} cases ({n_trunc} fill all 52 ids, {n_unk} contain [UNK])")

    tok = Tokenizer.from_file(TOKENIZER)
    got = [e.ids for e in tok.encode_batch(texts)]
    ok = 0
    for text, r, g in zip(texts, ref, got):
        if r == g:
            ok += 1
        else:
            print(f"MISMATCH {text!r}\n  cn_clip:    {r}\n  tokenizers: {g}")
    print(f"tokenizers (python) vs cn_clip: {ok}/{len(texts)} cases match")

    diff_texts = [t for t, _ in KNOWN_DIFFERENCES]
    diff_ref = cnclip_ref.reference_ids(diff_texts)
    diff_got = [e.ids for e in tok.encode_batch(diff_texts)]
    diffs = []
    for (text, why), r, g in zip(KNOWN_DIFFERENCES, diff_ref, diff_got):
        if r == g:
            print(f"note: known difference no longer differs: {text!r}")
        diffs.append({"text": text, "cn_clip_ids": r, "tokenizers_ids": g, "why": why})
    with open(OUT_DIFF, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(dumps(d) for d in diffs))
        f.write("\n]\n")
    n_differ = sum(d["cn_clip_ids"] != d["tokenizers_ids"] for d in diffs)
    print(f"wrote {OUT_DIFF}: {len(diffs)} known differences ({n_differ} still differ)")
    if ok != len(texts):
        sys.exit(1)

if __name__ == "__main__":
    main()
